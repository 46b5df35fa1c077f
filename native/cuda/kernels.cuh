// The CUDA backend's kernels, each launched on a given stream through the
// host functions below (definitions in dequant.cu, ops.cu, attention.cu).
// Every kernel has a CPU reference it is tested against through the CUDA
// addon's test surface (cuda_kernels_api.h, test/cuda-kernels.test.ts):
//
//   dequantize_rows   cpu/dequantize.h (the same formulas: cpu/block_values.h)
//   matvec            a float64 matmul of the dequantized weight
//   embed_rows        cpu/dequantize.h + scale
//   rmsnorm_rows      cpu/ops.h rmsnorm (sum of squares in double)
//   qk_prepare        cpu/ops.h rmsnorm per head + cpu/rope.h rope_apply + scale
//   swiglu / geglu    cpu/ops.h (GeGLU through llama.cpp's f16 GELU table, emulated)
//   attention         engine/attention.h (causal, GQA, window, softcap; online softmax in f32)
//   compare_rows      engine/cpu_backend.cc compare_rows (sums in double)
//   flag_non_finite   engine/finite.h finite_values
//
// Rows are row-major with an explicit stride (elements) where a kernel reads
// a slice of a wider row (q / k / v of a fused QKV output).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace shortgpt::cuda {

// A weight matrix in device memory, stored as in the file: n_out rows of
// n_in elements, row_bytes apart.
struct DeviceMatrix {
  int32_t type = -1;
  const uint8_t* data = nullptr;
  int64_t n_in = 0;
  int64_t n_out = 0;
  int64_t row_bytes = 0;
  bool present() const { return data != nullptr; }
};

// True for the types the kernels decode (the CPU engine's list).
bool device_type_supported(int32_t type);

// out[r][c] (r < rows) = element c of weight row row0 + r, as f16 / f32.
void dequantize_rows_f16(const DeviceMatrix& w, int64_t row0, int64_t rows, __half* out, cudaStream_t s);
void dequantize_rows_f32(const DeviceMatrix& w, int64_t row0, int64_t rows, float* out, cudaStream_t s);

// y[t][o] = sum_c W[o][c] * x[t][c] for t < T (small: decoding), o < n_out;
// x rows are w.n_in apart, y rows ldy apart. Accumulates in f32.
void matvec(const DeviceMatrix& w, const float* x, int64_t T, float* y, int64_t ldy, cudaStream_t s);

// x[r] = row tokens[r] of the embedding matrix (dequantized) times scale.
void embed_rows(const DeviceMatrix& w, const int32_t* tokens, int64_t rows, float scale, float* x, cudaStream_t s);

// y[r] = x[r] * (1 / sqrt(mean(x[r]^2) + eps)) [* w], n values per row.
void rmsnorm_rows(float* y, int64_t y_stride, const float* x, int64_t x_stride, const float* w, int64_t rows,
                  int64_t n, float eps, cudaStream_t s);

// y[r][i] += b[i] for i < n.
void add_bias_rows(float* y, int64_t stride, const float* b, int64_t rows, int64_t n, cudaStream_t s);
// y[r][i] += x[r][i].
void add_rows(float* y, const float* x, int64_t rows, int64_t n, cudaStream_t s);
// y[r][i] = cap * tanh(y[r][i] / cap).
void softcap_rows(float* y, int64_t rows, int64_t n, float cap, cudaStream_t s);
// out[i] = x[rows[i]] (n values each).
void gather_rows(float* out, const float* x, const int64_t* rows, int64_t n_rows, int64_t n, cudaStream_t s);

// Per row r and head h of x (heads of head_dim at x + r * stride + h * head_dim):
// [rmsnorm with norm_w (head_dim, may be null)], RoPE at positions[r] from
// rope_cs ([pos][n_rot] cos/sin pairs; null = none), then times scale.
void qk_prepare(float* x, int64_t stride, int64_t rows, int heads, int head_dim, const float* norm_w, float eps,
                const float* rope_cs, int n_rot, bool neox, const int32_t* positions, float scale, cudaStream_t s);

// h[r][i] = silu(gate) * up, or gelu(gate) * up through llama.cpp's f16
// table; gate[r] at gate + r * gate_stride, up alike, h rows n apart.
void swiglu_rows(float* h, const float* gate, const float* up, int64_t in_stride, int64_t rows, int64_t n,
                 cudaStream_t s);
void geglu_rows(float* h, const float* gate, const float* up, int64_t in_stride, int64_t rows, int64_t n,
                cudaStream_t s);

// f32 -> f16 / bf16 (round to nearest even), n elements.
void to_f16(__half* y, const float* x, int64_t n, cudaStream_t s);
void to_bf16(__nv_bfloat16* y, const float* x, int64_t n, cudaStream_t s);

// K and V rows into a cache (f16 rounded like llama.cpp's, or f32): cell
// cell0 + r of `cache` (row_elems apart) = src row r (src_stride apart).
void store_cache_rows(void* cache, bool f16, int64_t row_elems, int64_t cell0, const float* src, int64_t src_stride,
                      int64_t rows, cudaStream_t s);

// One tile of at most kAttnRows query rows of one sequence.
constexpr int kAttnRows = 32;
struct AttnTile {
  int32_t q_row;   // first query row (index into q / out)
  int32_t q_pos;   // its position; the sequence's keys are cells [0, q_pos + rows)
  int32_t rows;    // 1..kAttnRows
  int32_t kv_row;  // row of cell 0 in k / v
};

struct AttnArgs {
  const float* q = nullptr;  // row r, head h: q + r * q_stride + h * head_dim_k
  int64_t q_stride = 0;
  const void* k = nullptr;   // cell c, KV head g: k + c * k_stride + g * head_dim_k (float or f16)
  int64_t k_stride = 0;
  const void* v = nullptr;
  int64_t v_stride = 0;
  bool kv_f16 = false;       // k / v hold f16 (a cache) rather than f32
  bool round_f16 = false;    // f32 k / v are rounded to f16 first (llama.cpp's F16 cache)
  float* out = nullptr;      // row r, head h: out + r * out_stride + h * head_dim_v
  int64_t out_stride = 0;
  int n_head = 0, n_head_kv = 0, head_dim_k = 0, head_dim_v = 0;
  float scale = 1.0f;        // kq scale, already divided by softcap when softcap > 0
  float softcap = 0.0f;
  int window = 0;            // 0: full causal
};

// Largest head size the attention kernel takes.
constexpr int kAttnMaxHeadDim = 256;

// Causal attention of every tile's query rows (tiles: device array).
void attention(const AttnArgs& a, const AttnTile* tiles, int n_tiles, cudaStream_t s);

// *flag = 1 when x[0..n) holds a NaN or an infinity (every exponent bit set);
// otherwise *flag is left as it is.
void flag_non_finite(const float* x, int64_t n, int* flag, cudaStream_t s);

// cos(a[r], b[r]) and ||b[r] - a[r]|| / ||b[r]|| in double (cpu_backend.cc's rules
// for zero rows), n values per row.
void compare_rows(const float* a, const float* b, int64_t rows, int64_t n, double* cos, double* rel, cudaStream_t s);

}  // namespace shortgpt::cuda
