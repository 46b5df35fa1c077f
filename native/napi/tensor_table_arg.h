// Reading the tensor table argument ({ name, type, dims, offset, size }[])
// that TypeScript's GGUF reader produces.
#pragma once

#include <napi.h>

#include <vector>

#include "engine/tensor_table.h"

namespace shortgpt {

std::vector<TensorInfo> tensor_infos_from_js(Napi::Env env, const Napi::Value& value);

}  // namespace shortgpt
