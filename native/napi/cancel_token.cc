#include "napi/cancel_token.h"

#include "napi/js_error.h"

namespace shortgpt {

namespace {

// Type tag so a foreign object can never be unwrapped as a CancelToken.
constexpr napi_type_tag kCancelTokenTag = {0x5b1f0e2a9c3d4e71ull, 0x8a6b2c4d1e0f3a95ull};

class CancelTokenWrap : public Napi::ObjectWrap<CancelTokenWrap> {
 public:
  explicit CancelTokenWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<CancelTokenWrap>(info), flag_(std::make_shared<std::atomic<bool>>(false)) {
    info.This().As<Napi::Object>().TypeTag(&kCancelTokenTag);
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    flag_->store(true);
    return info.Env().Undefined();
  }

  Napi::Value Cancelled(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), flag_->load());
  }

  const CancelFlag& flag() const { return flag_; }

 private:
  CancelFlag flag_;
};

}  // namespace

Napi::Function define_cancel_token_class(Napi::Env env) {
  return CancelTokenWrap::DefineClass(
      env, "CancelToken",
      {
          CancelTokenWrap::InstanceMethod<&CancelTokenWrap::Cancel>("cancel"),
          CancelTokenWrap::InstanceAccessor<&CancelTokenWrap::Cancelled>("cancelled"),
      });
}

CancelFlag cancel_flag_from(Napi::Env env, const Napi::Value& value) {
  if (value.IsUndefined() || value.IsNull()) return std::make_shared<std::atomic<bool>>(false);
  if (value.IsObject()) {
    Napi::Object obj = value.As<Napi::Object>();
    if (obj.CheckTypeTag(&kCancelTokenTag)) return CancelTokenWrap::Unwrap(obj)->flag();
  }
  throw invalid_arg(env, "cancel token must be a CancelToken");
}

}  // namespace shortgpt
