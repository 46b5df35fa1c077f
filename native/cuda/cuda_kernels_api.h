// The CUDA kernels on host arrays, for tests (napi/cuda_kernels_binding.cc
// exposes them to test/cuda-kernels.test.ts, which compares each with its CPU
// reference). Plain C++: no CUDA types cross this header. Every call runs
// synchronously on device 0 and throws NativeError ERR_CUDA_UNAVAILABLE when
// there is no usable device (or, for the matmul, no cuBLAS).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shortgpt::cuda_test {

// The first n values of `bytes` (whole blocks of `type`) as f32, decoded on the GPU.
std::vector<float> dequantize(int32_t type, const std::vector<uint8_t>& bytes, int64_t n);

// Y[T x n_out] = X[T x n_in] . W^T. path: "auto" | "gemm" | "matvec".
std::vector<float> matmul(int32_t type, const std::vector<uint8_t>& weight, int64_t n_in, int64_t n_out,
                          const std::vector<float>& x, int64_t T, const std::string& path, const std::string& cublas_path);

// Rows of n: x * (1 / sqrt(mean(x^2) + eps)) [* w] (w empty: none).
std::vector<float> rmsnorm(const std::vector<float>& x, int64_t n, const std::vector<float>& w, float eps);

// RoPE as kernels().rope takes it (cpu/rope.h parameters).
struct RopeArgs {
  bool on = false;
  bool neox = false;
  int n_rot = 0;
  float base = 10000.0f, freq_scale = 1.0f, ext_factor = 0.0f, attn_factor = 1.0f;
  float beta_fast = 32.0f, beta_slow = 1.0f;
  int n_ctx_orig = 0;
  std::vector<float> factors;  // n_rot / 2 divisors, or empty
};

// Rows of heads x head_dim: [rmsnorm per head with norm_w], RoPE at
// positions[row] (the table built on the host by cpu/rope.h, as the backend
// does), times scale.
std::vector<float> qk_prepare(const std::vector<float>& x, int heads, int head_dim, const std::vector<float>& norm_w,
                              float eps, const RopeArgs& rope, const std::vector<int32_t>& positions, float scale);

// h = silu(gate) * up ("swiglu") or llama.cpp's f16-table gelu(gate) * up ("geglu").
std::vector<float> glu(const std::string& op, const std::vector<float>& gate, const std::vector<float>& up);

struct AttentionCase {
  std::vector<float> q, k, v;    // rows of n_head * dk / n_head_kv * dk / n_head_kv * dv
  std::vector<int64_t> lengths;  // sequences, concatenated row after row, each from position 0
  int n_head = 0, n_head_kv = 0, dk = 0, dv = 0;
  float kq_scale = 1.0f, softcap = 0.0f;
  int window = 0;
  bool round_f16 = true;         // K and V rounded to f16 (llama.cpp's F16 cache)
};
// Rows of n_head * dv.
std::vector<float> attention(const AttentionCase& c);

// Per row: cos and relative change, as compare_rows computes them.
void compare_rows(const std::vector<float>& a, const std::vector<float>& b, int64_t n, std::vector<double>& cos,
                  std::vector<double>& rel);

struct CublasInfo {
  std::string path;
  int version = 0;
};
// Loads cuBLAS as the backend does (no device needed); throws ERR_CUDA_UNAVAILABLE
// listing what it tried.
CublasInfo load_cublas(const std::string& user_path);
std::vector<std::string> cublas_candidates(const std::string& user_path);

}  // namespace shortgpt::cuda_test
