#pragma once

#include <napi.h>

namespace shortgpt {

// buildInfo(): compiled backends, SIMD levels (compiled, best, active), CPU
// features, compiler and build system — what a bug report needs.
Napi::Value build_info(const Napi::CallbackInfo& info);

// ggmlTypeTable(): [{ id, name, blockElems, blockBytes }] for every known type,
// so a test can check it equals the TypeScript table.
Napi::Value ggml_type_table(const Napi::CallbackInfo& info);

}  // namespace shortgpt
