#include "napi/temp_file_guard.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "napi/js_error.h"

namespace shortgpt {

namespace {

// Owned by the cleanup hook while it is registered: it must stay valid even
// if the JS object is collected first, and is freed by whichever ends it
// (the hook after removing the file, or release()).
struct PendingRemoval {
  std::string path;
};

void remove_at_env_teardown(void* arg) {
  auto* pending = static_cast<PendingRemoval*>(arg);
  std::error_code ignored;  // already renamed or removed: nothing to do
  std::filesystem::remove(std::filesystem::u8path(pending->path), ignored);
  delete pending;
}

class TempFileGuardWrap : public Napi::ObjectWrap<TempFileGuardWrap> {
 public:
  explicit TempFileGuardWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TempFileGuardWrap>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&] {
      if (!info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty()) {
        throw invalid_arg(env, "path must be a non-empty string");
      }
      auto* pending = new PendingRemoval{info[0].As<Napi::String>().Utf8Value()};
      if (napi_add_env_cleanup_hook(env, remove_at_env_teardown, pending) != napi_ok) {
        delete pending;
        throw make_js_error(env, "ERR_NATIVE", "cannot register an environment cleanup hook");
      }
      pending_ = pending;
    });
  }

  // The file is in place or gone: forget it. Idempotent.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    if (pending_) {
      napi_remove_env_cleanup_hook(info.Env(), remove_at_env_teardown, pending_);
      delete pending_;
      pending_ = nullptr;
    }
    return info.Env().Undefined();
  }

 private:
  PendingRemoval* pending_ = nullptr;
};

}  // namespace

Napi::Function define_temp_file_guard_class(Napi::Env env) {
  return TempFileGuardWrap::DefineClass(env, "TempFileGuard",
                                        {TempFileGuardWrap::InstanceMethod<&TempFileGuardWrap::Release>("release")});
}

}  // namespace shortgpt
