#pragma once

#include <napi.h>

namespace shortgpt {

// JS class MappedModel(path, tensors): maps a GGUF file read-only and
// re-validates the tensor table handed over by TypeScript.
Napi::Function define_mapped_model_class(Napi::Env env);

}  // namespace shortgpt
