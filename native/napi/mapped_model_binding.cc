#include "napi/mapped_model_binding.h"

#include <memory>

#include "engine/mapped_file.h"
#include "engine/tensor_table.h"
#include "napi/js_error.h"
#include "napi/tensor_table_arg.h"

namespace shortgpt {

namespace {

class MappedModelWrap : public Napi::ObjectWrap<MappedModelWrap> {
 public:
  explicit MappedModelWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<MappedModelWrap>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&] {
      if (!info[0].IsString()) throw invalid_arg(env, "path must be a string");
      std::vector<TensorInfo> infos = tensor_infos_from_js(env, info[1]);
      auto file = std::make_unique<MappedFile>(info[0].As<Napi::String>().Utf8Value());
      table_ = std::make_unique<TensorTable>(std::move(infos), file->size(), file->path());
      file_ = std::move(file);
    });
  }

  Napi::Value FileSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(open_file(info.Env()).size()));
  }

  Napi::Value TensorCount(const Napi::CallbackInfo& info) {
    open_file(info.Env());
    return Napi::Number::New(info.Env(), static_cast<double>(table_->tensors().size()));
  }

  // Releases the mapping now instead of at garbage collection.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    table_.reset();
    file_.reset();
    return info.Env().Undefined();
  }

 private:
  const MappedFile& open_file(Napi::Env env) {
    if (!file_) throw make_js_error(env, "ERR_MODEL_CLOSED", "the model has been closed");
    return *file_;
  }

  std::unique_ptr<MappedFile> file_;
  std::unique_ptr<TensorTable> table_;
};

}  // namespace

Napi::Function define_mapped_model_class(Napi::Env env) {
  return MappedModelWrap::DefineClass(
      env, "MappedModel",
      {
          MappedModelWrap::InstanceAccessor<&MappedModelWrap::FileSize>("fileSize"),
          MappedModelWrap::InstanceAccessor<&MappedModelWrap::TensorCount>("tensorCount"),
          MappedModelWrap::InstanceMethod<&MappedModelWrap::Close>("close"),
      });
}

}  // namespace shortgpt
