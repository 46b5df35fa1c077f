#include "napi/tensor_table_arg.h"

#include <string>

#include "napi/js_error.h"

namespace shortgpt {

std::vector<TensorInfo> tensor_infos_from_js(Napi::Env env, const Napi::Value& value) {
  if (!value.IsArray()) throw invalid_arg(env, "tensors must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<TensorInfo> infos;
  infos.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    const std::string at = "tensors[" + std::to_string(i) + "]";
    if (!item.IsObject()) throw invalid_arg(env, at + " must be an object");
    Napi::Object obj = item.As<Napi::Object>();
    TensorInfo t;
    Napi::Value name = obj.Get("name");
    if (!name.IsString()) throw invalid_arg(env, at + ".name must be a string");
    t.name = name.As<Napi::String>().Utf8Value();
    t.type = static_cast<int32_t>(to_i64(env, obj.Get("type"), (at + ".type").c_str()));
    Napi::Value dims = obj.Get("dims");
    if (!dims.IsArray()) throw invalid_arg(env, at + ".dims must be an array");
    Napi::Array dim_array = dims.As<Napi::Array>();
    if (dim_array.Length() > 4) {
      throw make_js_error(env, "ERR_GGUF_TENSOR_DIMS",
                          "tensor '" + t.name + "': more than 4 dimensions");
    }
    t.n_dims = static_cast<int32_t>(dim_array.Length());
    for (uint32_t d = 0; d < dim_array.Length(); ++d) {
      t.ne[d] = to_i64(env, dim_array.Get(d), (at + ".dims").c_str());
    }
    t.offset = to_u64(env, obj.Get("offset"), (at + ".offset").c_str());
    t.nbytes = to_u64(env, obj.Get("size"), (at + ".size").c_str());
    infos.push_back(std::move(t));
  }
  return infos;
}

}  // namespace shortgpt
