#include "engine/cached_attention.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "cpu/fp16.h"
#include "engine/attention_kernels.h"

namespace shortgpt {

namespace {

// Largest head size the kernel's stack buffers take (attention.cc's limit too).
constexpr int kMaxHeadDim = 1024;

// Below this many (head, cell) pairs a step runs on the calling thread: each
// pair costs ~50 ns, and waking the pool's workers costs more than the work
// it would share (measured: 4x slower attention at 64 cells on 2 threads).
constexpr int64_t kSerialHeadCells = 4096;

// ---------------------------------------------------------------------------
// Scalar kernels: the reference for cached_attention_avx2.cc, bit for bit.

float dot_f16_scalar(const uint16_t* k, const float* q, int n) {
  float kf[kMaxHeadDim];
  for (int d = 0; d < n; ++d) kf[d] = cpu::fp16_to_fp32(k[d]);
  return dot_ggml(kf, q, n);
}

void scale_f16_scalar(float* acc, float s, int n) {
  for (int d = 0; d < n; ++d) acc[d] = cpu::round_to_fp16(acc[d] * s);
}

void mad_f16_scalar(float* acc, const uint16_t* v, float s, int n) {
  for (int d = 0; d < n; ++d) acc[d] = cpu::round_to_fp16(std::fma(cpu::fp16_to_fp32(v[d]), s, acc[d]));
}

void mad_f32_scalar(float* acc, const float* v, float s, int n) {
  for (int d = 0; d < n; ++d) acc[d] = std::fma(v[d], s, acc[d]);
}

constexpr CachedAttnKernels kScalar = {"scalar", dot_f16_scalar, scale_f16_scalar, mad_f16_scalar, mad_f32_scalar};

// One query row of one head over cells [lo, t]: the online softmax of
// ggml's one-chunk kernel (attention.cc one_chunk_row, same operations in
// the same order).
void attend_row(const AttentionParams& p, const KvBlockView& kv, const float* qs, int g, int64_t lo, int64_t t,
                float* o, const CachedAttnKernels& kern) {
  const int dk = p.head_dim_k, dv = p.head_dim_v;
  const bool f16 = kv.f16;
  float q[kMaxHeadDim], acc[kMaxHeadDim];
  // The product with an f16 K converts Q to f16 first.
  for (int d = 0; d < dk; ++d) q[d] = f16 ? cpu::round_to_fp16(qs[d]) : qs[d];
  std::fill(acc, acc + dv, 0.0f);
  const float scale = folded_kq_scale(p.kq_scale, p.softcap);
  float S = 0.0f, M = -INFINITY;
  const int64_t k_off = int64_t(g) * dk, v_off = int64_t(g) * dv;
  for (int64_t c = lo; c <= t; ++c) {
    const float dot = f16 ? kern.dot_f16(kv.k16 + c * kv.k_row + k_off, q, dk) : dot_ggml(kv.k32 + c * kv.k_row + k_off, q, dk);
    const auto [raised, ms, vs] = online_softmax_step(dot * scale, p.softcap, M);
    if (raised) {
      if (f16) {
        kern.scale_f16(acc, ms, dv);
      } else {
        for (int d = 0; d < dv; ++d) acc[d] *= ms;
      }
    }
    if (f16) {
      kern.mad_f16(acc, kv.v16 + c * kv.v_row + v_off, vs, dv);
    } else {
      kern.mad_f32(acc, kv.v32 + c * kv.v_row + v_off, vs, dv);
    }
    S = S * ms + vs;
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  for (int d = 0; d < dv; ++d) o[d] = acc[d] * inv;
}

}  // namespace

const CachedAttnKernels& cached_attn_kernels_scalar() { return kScalar; }

const CachedAttnKernels& cached_attn_kernels_for(SimdLevel level) {
#ifdef SHORTGPT_HAVE_X86_SIMD
  if (level != SimdLevel::Scalar) return avx2::cached_attn_kernels();
#endif
  (void)level;
  return kScalar;
}

void cached_attention(const AttentionParams& p, const KvBlockView& kv, const float* q, int64_t q_stride, float* out,
                      int64_t out_stride, int64_t pos0, int64_t n, cpu::ThreadPool& pool,
                      const CachedAttnKernels& kernels) {
  if (p.head_dim_k > kMaxHeadDim || p.head_dim_v > kMaxHeadDim || p.head_dim_v % 8 != 0) {
    throw NativeError("ERR_UNSUPPORTED_MODEL", "attention needs head sizes of at most 1024, V's a multiple of 8");
  }
  if (kv.cells < pos0 + n) throw NativeError("ERR_INTERNAL", "the KV cache is missing cells of the rows attended");
  const int group = p.n_head / p.n_head_kv;
  // One task per (row, head): a head's work is one pass over the cells.
  auto task = [&](int64_t i, int) {
    const int64_t r = i / p.n_head;
    const int h = static_cast<int>(i % p.n_head);
    const int64_t t = pos0 + r;
    const int64_t lo = p.window > 0 ? std::max<int64_t>(0, t - p.window + 1) : 0;
    attend_row(p, kv, q + r * q_stride + int64_t(h) * p.head_dim_k, h / group, lo, t,
               out + r * out_stride + int64_t(h) * p.head_dim_v, kernels);
  };
  const int64_t tasks = n * p.n_head;
  if (tasks * (pos0 + n) < kSerialHeadCells) {
    for (int64_t i = 0; i < tasks; ++i) task(i, 0);
  } else {
    pool.parallel_for(tasks, task);
  }
}

}  // namespace shortgpt
