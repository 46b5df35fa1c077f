// The one entry into the CUDA backend for code built without nvcc (the
// engine): plain C++, no CUDA types, so engine.cc can include it in the CUDA
// build and the CPU build never references a CUDA symbol.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"

namespace shortgpt {

struct CudaBackendOptions {
  int device_index = 0;
  // Bytes of device memory for weights and work buffers; 0: the device's
  // free memory less a margin for the CUDA context and cuBLAS.
  int64_t vram_budget = 0;
  // A libcublas file or folder tried before the usual places (cublas_loader.h).
  std::string cublas_path;
  // K and V rounded to fp16 (llama.cpp's default cache), else kept in f32.
  bool kv_f16 = true;
  // The engine's memory budget: what one batch's work buffers and hidden
  // states may take (on the device here), as on the CPU.
  int64_t work_budget = int64_t(512) << 20;
  // At most this many blocks stay resident (-1: as many as the budget
  // allows); the rest stream. For tests of the streamed path and for leaving
  // device memory to other programs.
  int max_resident_blocks = -1;
};

// Throws NativeError ERR_CUDA_UNAVAILABLE naming what is missing (driver,
// device, code for the device, cuBLAS and where it looked) and
// ERR_CUDA_OUT_OF_MEMORY when even the streamed layout does not fit.
std::unique_ptr<Backend> make_cuda_backend(const ModelConfig& config, const ModelWeights& weights,
                                           const CudaBackendOptions& options);

}  // namespace shortgpt
