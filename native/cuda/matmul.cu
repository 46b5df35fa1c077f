#include "cuda/matmul.cuh"

#include <algorithm>

#include "common/ggml_type.h"

namespace shortgpt::cuda {

DeviceMatmul::DeviceMatmul(const CublasLibrary& cublas, cudaStream_t stream, DeviceTally* tally, int64_t scratch_bytes)
    : api_(cublas.api()), stream_(stream), tally_(tally), scratch_bytes_(scratch_bytes) {
  check_cublas(api_, api_.create(&handle_), "cublasCreate");
  check_cublas(api_, api_.set_stream(handle_, stream_), "cublasSetStream");
  // Tensor cores for f16 / bf16 inputs; f32 inputs stay in full f32 (no TF32).
  check_cublas(api_, api_.set_math_mode(handle_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  act_.set_tally(tally_);
  check(cudaStreamCreateWithFlags(&dequant_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  for (int b = 0; b < 2; ++b) {
    scratch_[b].set_tally(tally_);
    check(cudaEventCreateWithFlags(&decoded_[b], cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventCreateWithFlags(&consumed_[b], cudaEventDisableTiming), "cudaEventCreate");
  }
}

DeviceMatmul::~DeviceMatmul() {
  if (dequant_stream_) cudaStreamSynchronize(dequant_stream_);
  if (stream_) cudaStreamSynchronize(stream_);
  for (int b = 0; b < 2; ++b) {
    if (decoded_[b]) cudaEventDestroy(decoded_[b]);
    if (consumed_[b]) cudaEventDestroy(consumed_[b]);
  }
  if (dequant_stream_) cudaStreamDestroy(dequant_stream_);
  if (handle_) api_.destroy(handle_);
}

void DeviceMatmul::wait_for(cudaEvent_t ready) { check(cudaStreamWaitEvent(dequant_stream_, ready, 0), "order weight reads"); }

void DeviceMatmul::run(const DeviceMatrix& w, const float* x, int64_t T, float* y, Path path) {
  if (T <= 0) return;
  if (path == Path::Matvec || (path == Path::Auto && T <= kMatvecRows)) {
    matvec(w, x, T, y, w.n_out, stream_);
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  const int K = static_cast<int>(w.n_in), N = static_cast<int>(w.n_out), M = static_cast<int>(T);
  // Row-major Y[T x N] = X[T x K] . W^T is, column-major, Y' (N x T) = W' (N x K) . X' (K x T):
  // W (N rows of K) is a column-major K x N matrix that cuBLAS transposes.
  auto gemm = [&](const void* a, cudaDataType at, int rows, const void* b, cudaDataType bt, float* c) {
    check_cublas(api_,
                 api_.gemm_ex(handle_, CUBLAS_OP_T, CUBLAS_OP_N, rows, M, K, &one, a, at, K, b, bt, K, &zero, c,
                              CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  };
  const GgmlType type = static_cast<GgmlType>(w.type);
  if (type == GgmlType::F32) {
    gemm(w.data, CUDA_R_32F, N, x, CUDA_R_32F, y);
    return;
  }
  act_.reserve(T * K * 2, "matmul inputs");
  if (type == GgmlType::BF16) {
    to_bf16(act_.as<__nv_bfloat16>(), x, T * K, stream_);
    gemm(w.data, CUDA_R_16BF, N, act_.get(), CUDA_R_16BF, y);
    return;
  }
  to_f16(act_.as<__half>(), x, T * K, stream_);
  if (type == GgmlType::F16) {
    gemm(w.data, CUDA_R_16F, N, act_.get(), CUDA_R_16F, y);
    return;
  }
  // Quantized: slices of weight rows dequantized to f16 on the second stream
  // into alternating buffers, each multiplied on the compute stream.
  const int64_t slice = std::max<int64_t>(1, std::min<int64_t>(N, scratch_bytes_ / 2 / (int64_t(K) * 2)));
  for (int b = 0; b < 2; ++b) scratch_[b].reserve(slice * K * 2, "the dequantization scratch");
  for (int64_t n0 = 0; n0 < N; n0 += slice) {
    const int64_t nr = std::min<int64_t>(slice, N - n0);
    const int b = next_;
    next_ ^= 1;
    check(cudaStreamWaitEvent(dequant_stream_, consumed_[b], 0), "order scratch reuse");
    dequantize_rows_f16(w, n0, nr, scratch_[b].as<__half>(), dequant_stream_);
    check(cudaEventRecord(decoded_[b], dequant_stream_), "cudaEventRecord");
    check(cudaStreamWaitEvent(stream_, decoded_[b], 0), "wait for the dequantized slice");
    gemm(scratch_[b].get(), CUDA_R_16F, static_cast<int>(nr), act_.get(), CUDA_R_16F, y + n0);
    check(cudaEventRecord(consumed_[b], stream_), "cudaEventRecord");
  }
}

}  // namespace shortgpt::cuda
