// Row kernels of the forward pass on the GPU, with the CPU engine's numerics
// where they are cheap to keep: RMSNorm sums squares in double and scales in
// float with separate roundings (cpu/ops.cc), RoPE rotates with separately
// rounded products (cpu/rope.cc), GeGLU goes through llama.cpp's f16 GELU
// table (computed, not looked up), compare_rows sums in double.
#include <cmath>
#include <cstdint>

#include "common/host_device.h"
#include "cuda/cuda_util.cuh"
#include "cuda/kernels.cuh"

namespace shortgpt::cuda {

namespace {

constexpr int kThreads = 256;

// Sum over the thread block (blockDim.x == kThreads); every thread gets it.
template <class T>
__device__ T block_sum(T v, T* shared) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // shared may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T total = 0;
  for (int i = 0; i < kThreads / 32; ++i) total += shared[i];
  return total;
}

__global__ void rmsnorm_kernel(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* w, int n,
                               float eps) {
  __shared__ double partial[kThreads / 32];
  const float* xr = x + blockIdx.x * x_stride;
  float* yr = y + blockIdx.x * y_stride;
  double sum = 0.0;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const float v = xr[i];
    sum += static_cast<double>(mul_rn(v, v));
  }
  sum = block_sum(sum, partial);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float s = 1.0f / sqrtf(add_rn(mean, eps));
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const float v = mul_rn(xr[i], s);
    yr[i] = w ? mul_rn(v, w[i]) : v;
  }
}

__global__ void add_bias_kernel(float* y, int64_t stride, const float* b, int64_t rows, int64_t n) {
  const int64_t total = rows * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n, c = i % n;
    y[r * stride + c] = add_rn(y[r * stride + c], b[c]);
  }
}

__global__ void add_rows_kernel(float* y, const float* x, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = add_rn(y[i], x[i]);
  }
}

__global__ void softcap_kernel(float* y, int64_t total, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = mul_rn(tanhf(mul_rn(y[i], inv)), cap);
  }
}

__global__ void gather_kernel(float* out, const float* x, const int64_t* rows, int64_t n) {
  const float* src = x + rows[blockIdx.x] * n;
  float* dst = out + blockIdx.x * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

// One warp per (row, head): norm (sum of squares in double), then RoPE pairs,
// then the scale, all in place.
__global__ void qk_prepare_kernel(float* x, int64_t stride, int64_t rows, int heads, int head_dim, const float* norm_w,
                                  float eps, const float* rope_cs, int n_rot, bool neox, const int32_t* positions,
                                  float scale) {
  const int lane = threadIdx.x & 31;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (item >= rows * heads) return;
  const int64_t r = item / heads;
  const int h = static_cast<int>(item % heads);
  float* v = x + r * stride + static_cast<int64_t>(h) * head_dim;
  if (norm_w) {
    double sum = 0.0;
    for (int i = lane; i < head_dim; i += 32) sum += static_cast<double>(mul_rn(v[i], v[i]));
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float mean = static_cast<float>(sum / static_cast<double>(head_dim));
    const float s = 1.0f / sqrtf(add_rn(mean, eps));
    for (int i = lane; i < head_dim; i += 32) v[i] = mul_rn(mul_rn(v[i], s), norm_w[i]);
    __syncwarp();
  }
  if (rope_cs) {
    const float* cs = rope_cs + static_cast<int64_t>(positions[r]) * n_rot;
    const int rot = n_rot < head_dim ? n_rot : head_dim;
    for (int p = lane; 2 * p + 1 < rot; p += 32) {
      const int i0 = 2 * p;
      const float c = cs[i0], sn = cs[i0 + 1];
      const int a = neox ? p : i0;
      const int b = neox ? p + n_rot / 2 : i0 + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = sub_rn(mul_rn(x0, c), mul_rn(x1, sn));
      v[b] = add_rn(mul_rn(x0, sn), mul_rn(x1, c));
    }
    __syncwarp();
  }
  if (scale != 1.0f) {
    for (int i = lane; i < head_dim; i += 32) v[i] = mul_rn(v[i], scale);
  }
}

__device__ inline float silu1(float v) { return v / (1.0f + expf(-v)); }

// gelu(f16(x)) rounded to f16, as llama.cpp's CPU table holds it.
__device__ inline float gelu_f16(float x) {
  const float h = __half2float(__float2half_rn(x));
  const float kA = 0.044715f, kS = 0.79788456080286535587989211986876f;
  const float g = 0.5f * h * (1.0f + tanhf(kS * h * (1.0f + kA * h * h)));
  return __half2float(__float2half_rn(g));
}

template <bool kGelu>
__global__ void glu_kernel(float* h, const float* gate, const float* up, int64_t in_stride, int64_t rows, int64_t n) {
  const int64_t total = rows * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / n, c = i % n;
    const float g = gate[r * in_stride + c], u = up[r * in_stride + c];
    float out;
    if (kGelu) {
      out = g <= -10.0f ? 0.0f : g >= 10.0f ? mul_rn(g, u) : mul_rn(gelu_f16(g), u);
    } else {
      out = mul_rn(silu1(g), u);
    }
    h[i] = out;
  }
}

__global__ void to_f16_kernel(__half* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = __float2half_rn(x[i]);
  }
}

__global__ void to_bf16_kernel(__nv_bfloat16* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    y[i] = __float2bfloat16_rn(x[i]);
  }
}

__global__ void store_cache_kernel(void* cache, bool f16, int64_t row_elems, int64_t cell0, const float* src,
                                   int64_t src_stride, int64_t rows) {
  const int64_t total = rows * row_elems;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / row_elems, c = i % row_elems;
    const float v = src[r * src_stride + c];
    const int64_t at = (cell0 + r) * row_elems + c;
    if (f16) {
      static_cast<__half*>(cache)[at] = __float2half_rn(v);
    } else {
      static_cast<float*>(cache)[at] = v;
    }
  }
}

__global__ void compare_rows_kernel(const float* a, const float* b, int64_t n, double* cos_out, double* rel_out) {
  __shared__ double partial[kThreads / 32];
  const float* ar = a + blockIdx.x * n;
  const float* br = b + blockIdx.x * n;
  double dot = 0, na = 0, nb = 0, nd = 0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) {
    const double av = ar[i], bv = br[i], dv = bv - av;
    dot += av * bv;
    na += av * av;
    nb += bv * bv;
    nd += dv * dv;
  }
  dot = block_sum(dot, partial);
  na = block_sum(na, partial);
  nb = block_sum(nb, partial);
  nd = block_sum(nd, partial);
  if (threadIdx.x == 0) {
    // A zero row counts as unchanged (cos 1): never NaN (cpu_backend.cc).
    double c = (na > 0 && nb > 0) ? dot / sqrt(na * nb) : 1.0;
    c = fmin(1.0, fmax(-1.0, c));
    const double rel = nb > 0 ? sqrt(nd) / sqrt(nb) : (nd > 0 ? 1.0 : 0.0);
    cos_out[blockIdx.x] = c;
    rel_out[blockIdx.x] = rel;
  }
}

__global__ void non_finite_kernel(const float* x, int64_t n, int* flag) {
  unsigned bad = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    bad |= (__float_as_uint(x[i]) & 0x7f800000u) == 0x7f800000u;
  }
  if (bad) *flag = 1;  // every writer writes the same value
}

unsigned grid_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 * 8 ? (b < 1 ? 1 : b) : 65535 * 8);
}

}  // namespace

void rmsnorm_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* w, int64_t rows,
                  int64_t n, float eps, cudaStream_t s) {
  if (rows <= 0) return;
  rmsnorm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(y, y_stride, x, x_stride, w, static_cast<int>(n), eps);
  check_launch("rmsnorm_rows");
}

void add_bias_rows(float* y, int64_t stride, const float* b, int64_t rows, int64_t n, cudaStream_t s) {
  if (rows <= 0) return;
  add_bias_kernel<<<grid_for(rows * n), kThreads, 0, s>>>(y, stride, b, rows, n);
  check_launch("add_bias_rows");
}

void add_rows(float* y, const float* x, int64_t rows, int64_t n, cudaStream_t s) {
  if (rows <= 0) return;
  add_rows_kernel<<<grid_for(rows * n), kThreads, 0, s>>>(y, x, rows * n);
  check_launch("add_rows");
}

void softcap_rows(float* y, int64_t rows, int64_t n, float cap, cudaStream_t s) {
  if (rows <= 0) return;
  softcap_kernel<<<grid_for(rows * n), kThreads, 0, s>>>(y, rows * n, cap);
  check_launch("softcap_rows");
}

void gather_rows(float* out, const float* x, const int64_t* rows, int64_t n_rows, int64_t n, cudaStream_t s) {
  if (n_rows <= 0) return;
  gather_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, s>>>(out, x, rows, n);
  check_launch("gather_rows");
}

void qk_prepare(float* x, int64_t stride, int64_t rows, int heads, int head_dim, const float* norm_w, float eps,
                const float* rope_cs, int n_rot, bool neox, const int32_t* positions, float scale, cudaStream_t s) {
  if (rows <= 0 || (!norm_w && !rope_cs && scale == 1.0f)) return;
  const int warps = kThreads / 32;
  qk_prepare_kernel<<<blocks_for(rows * heads, warps), kThreads, 0, s>>>(x, stride, rows, heads, head_dim, norm_w, eps,
                                                                         rope_cs, n_rot, neox, positions, scale);
  check_launch("qk_prepare");
}

void swiglu_rows(float* h, const float* gate, const float* up, int64_t in_stride, int64_t rows, int64_t n,
                 cudaStream_t s) {
  if (rows <= 0) return;
  glu_kernel<false><<<grid_for(rows * n), kThreads, 0, s>>>(h, gate, up, in_stride, rows, n);
  check_launch("swiglu_rows");
}

void geglu_rows(float* h, const float* gate, const float* up, int64_t in_stride, int64_t rows, int64_t n,
                cudaStream_t s) {
  if (rows <= 0) return;
  glu_kernel<true><<<grid_for(rows * n), kThreads, 0, s>>>(h, gate, up, in_stride, rows, n);
  check_launch("geglu_rows");
}

void to_f16(__half* y, const float* x, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  to_f16_kernel<<<grid_for(n), kThreads, 0, s>>>(y, x, n);
  check_launch("to_f16");
}

void to_bf16(__nv_bfloat16* y, const float* x, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  to_bf16_kernel<<<grid_for(n), kThreads, 0, s>>>(y, x, n);
  check_launch("to_bf16");
}

void store_cache_rows(void* cache, bool f16, int64_t row_elems, int64_t cell0, const float* src, int64_t src_stride,
                      int64_t rows, cudaStream_t s) {
  if (rows <= 0) return;
  store_cache_kernel<<<grid_for(rows * row_elems), kThreads, 0, s>>>(cache, f16, row_elems, cell0, src, src_stride, rows);
  check_launch("store_cache_rows");
}

void compare_rows(const float* a, const float* b, int64_t rows, int64_t n, double* cos, double* rel, cudaStream_t s) {
  if (rows <= 0) return;
  compare_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, s>>>(a, b, n, cos, rel);
  check_launch("compare_rows");
}

void flag_non_finite(const float* x, int64_t n, int* flag, cudaStream_t s) {
  if (n <= 0) return;
  non_finite_kernel<<<grid_for(n), kThreads, 0, s>>>(x, n, flag);
  check_launch("flag_non_finite");
}

}  // namespace shortgpt::cuda
