#pragma once

#include <napi.h>

namespace shortgpt {

// cudaKernels: the CUDA kernels on JS arrays, for tests (cuda/cuda_kernels_api.h);
// null in an addon built without CUDA. Every call is synchronous and throws
// ERR_CUDA_UNAVAILABLE without a usable device.
Napi::Value define_cuda_kernels(Napi::Env env);

}  // namespace shortgpt
