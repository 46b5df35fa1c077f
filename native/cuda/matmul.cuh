// Y[T x n_out] = X[T x n_in] . W^T on the GPU for a weight stored as in the
// file (kernels.cuh DeviceMatrix), f32 in and out:
//
//   T <= kMatvecRows (decoding): the mat-vec kernel, decoding the weight's
//     blocks in place (no dequantized copy), f32 accumulation;
//   otherwise cublasGemmEx with f32 accumulation: f32 weights as they are
//     (full f32, no TF32), f16 / bf16 weights as they are with X rounded to
//     the same type, quantized weights dequantized (cpu/block_values.h) into
//     an f16 scratch a slice of rows at a time, X rounded to f16. Slices
//     alternate between two scratch buffers and are dequantized on a second
//     stream, so the next slice (or the next matmul's first) is decoded while
//     the current GEMM runs; events order each buffer's reuse.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cublas_loader.h"
#include "cuda/cuda_util.cuh"
#include "cuda/kernels.cuh"

namespace shortgpt::cuda {

class DeviceMatmul {
 public:
  static constexpr int64_t kMatvecRows = 8;

  enum class Path { Auto, Gemm, Matvec };

  // scratch_bytes: both f16 weight slices of a quantized GEMM together (at
  // least one row of the widest matrix each is always allowed).
  DeviceMatmul(const CublasLibrary& cublas, cudaStream_t stream, DeviceTally* tally, int64_t scratch_bytes);
  ~DeviceMatmul();
  DeviceMatmul(const DeviceMatmul&) = delete;
  DeviceMatmul& operator=(const DeviceMatmul&) = delete;

  // y rows are w.n_out apart.
  void run(const DeviceMatrix& w, const float* x, int64_t T, float* y, Path path = Path::Auto);

  // Weights written by other streams: the dequantization stream waits for
  // `ready` before it reads any weight queued after this call.
  void wait_for(cudaEvent_t ready);

 private:
  const CublasApi& api_;
  cudaStream_t stream_;
  DeviceTally* tally_;
  cublasHandle_t handle_ = nullptr;
  int64_t scratch_bytes_;
  DeviceBuffer act_;
  cudaStream_t dequant_stream_ = nullptr;
  DeviceBuffer scratch_[2];
  cudaEvent_t decoded_[2] = {nullptr, nullptr};   // slice b is in scratch b
  cudaEvent_t consumed_[2] = {nullptr, nullptr};  // the GEMM reading scratch b is done
  int next_ = 0;
};

}  // namespace shortgpt::cuda
