// Attention of new query rows against a sequence's KV cache (decoding): for
// each query row and head, llama.cpp's one-chunk CPU flash-attention kernel
// (ggml-cpu ops.cpp, ggml_compute_forward_flash_attn_ext_f16_one_chunk),
// which llama.cpp runs for batches under 64 query rows, so for every decoded
// token:
//
//   with an F16 cache: Q rounded to f16; per cell in position order
//     s = (K_c . Q) * scale (ggml_vec_dot_f16's summation order), [softcap],
//     online softmax with expf; the V accumulator is kept in f16 (every scale
//     and multiply-add rounded to f16, as ggml_vec_scale_f16 / _mad_f16);
//   with an F32 cache: the same in f32.
//
// This is what attention.cc's one-chunk path computes for a short batch, bit
// for bit, reading the cache's cells instead of the batch's packed K and V:
// the tests compare decoded logits with a full-sequence recomputation.
//
// llama.cpp 0.4.0 splits the cells across threads for one query row once the
// cache holds 512 cells or more (use_split_kv_path), which changes its
// summation order with the thread count; with one thread that path equals
// this one. We always run the single-chunk order (threads split heads), so
// results never depend on the thread count.
#pragma once

#include <cstdint>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"
#include "engine/attention.h"
#include "engine/kv_cache.h"

namespace shortgpt {

// The vector loops of the kernel, one set per instruction set (scalar in
// cached_attention.cc, AVX2 + F16C in cached_attention_avx2.cc); both give
// the same bits. acc holds f16-representable values in the f16 variants.
struct CachedAttnKernels {
  const char* name;
  // dot_ggml(k, q, n) with k read from f16 (exactly, no rounding).
  float (*dot_f16)(const uint16_t* k, const float* q, int n);
  // acc[d] = f16(acc[d] * s)
  void (*scale_f16)(float* acc, float s, int n);
  // acc[d] = f16(fma(v[d], s, acc[d]))
  void (*mad_f16)(float* acc, const uint16_t* v, float s, int n);
  // acc[d] = fma(v[d], s, acc[d])
  void (*mad_f32)(float* acc, const float* v, float s, int n);
};

const CachedAttnKernels& cached_attn_kernels_scalar();

namespace avx2 {
const CachedAttnKernels& cached_attn_kernels();
}  // namespace avx2

const CachedAttnKernels& cached_attn_kernels_for(SimdLevel level);

// out rows [0, n) (head h at out + r * out_stride + h * head_dim_v) = the
// attention of query rows q (row r at position pos0 + r; head h at
// q + r * q_stride + h * head_dim_k) against cells [0, pos0 + r] of `kv`
// (within the sliding window when p.window > 0). kv must hold pos0 + n cells.
void cached_attention(const AttentionParams& p, const KvBlockView& kv, const float* q, int64_t q_stride, float* out,
                      int64_t out_stride, int64_t pos0, int64_t n, cpu::ThreadPool& pool,
                      const CachedAttnKernels& kernels);

}  // namespace shortgpt
