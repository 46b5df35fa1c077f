#pragma once

#include <napi.h>

namespace shortgpt {

// `kernels`: the CPU kernels exposed for tests and benchmarks (shipped, not
// part of the public TypeScript API). Synchronous; every argument is checked
// (ERR_INVALID_ARG) before native code touches memory. See NativeKernels in
// src/engine.ts for the signatures.
Napi::Object define_kernels(Napi::Env env);

}  // namespace shortgpt
