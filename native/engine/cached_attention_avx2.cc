// The vector loops of cached_attention.cc with AVX2 + FMA + F16C, compiled
// with -mavx2 -mfma -mf16c and called only after run-time CPU detection.
// Same bits as the scalar kernels: the same FMA chains in the same order,
// and F16C's conversions round to nearest-even like cpu/fp16.h.
#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "cpu/fp16.h"
#include "engine/cached_attention.h"

namespace shortgpt::avx2 {

namespace {

inline __m256 load_f16(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// Rounds every lane to the nearest f16 value.
inline __m256 round_f16(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

// ggml_vec_dot_f16: four accumulators over steps of 32, then (0+2, 1+3, 0+1),
// halves, pairs; the tail added in double.
float dot_f16(const uint16_t* k, const float* q, int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  const int np = n & ~31;
  for (int i = 0; i < np; i += 32) {
    s0 = _mm256_fmadd_ps(load_f16(k + i), _mm256_loadu_ps(q + i), s0);
    s1 = _mm256_fmadd_ps(load_f16(k + i + 8), _mm256_loadu_ps(q + i + 8), s1);
    s2 = _mm256_fmadd_ps(load_f16(k + i + 16), _mm256_loadu_ps(q + i + 16), s2);
    s3 = _mm256_fmadd_ps(load_f16(k + i + 24), _mm256_loadu_ps(q + i + 24), s3);
  }
  s0 = _mm256_add_ps(s0, s2);
  s1 = _mm256_add_ps(s1, s3);
  s0 = _mm256_add_ps(s0, s1);
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  const __m128 pairs = _mm_hadd_ps(h, h);
  double sum = static_cast<double>(_mm_cvtss_f32(_mm_hadd_ps(pairs, pairs)));
  for (int i = np; i < n; ++i) sum += static_cast<double>(cpu::fp16_to_fp32(k[i]) * q[i]);
  return static_cast<float>(sum);
}

// n is a multiple of 8 (cached_attention checks head_dim_v).
void scale_f16(float* acc, float s, int n) {
  const __m256 vs = _mm256_set1_ps(s);
  for (int d = 0; d < n; d += 8) _mm256_storeu_ps(acc + d, round_f16(_mm256_mul_ps(_mm256_loadu_ps(acc + d), vs)));
}

void mad_f16(float* acc, const uint16_t* v, float s, int n) {
  const __m256 vs = _mm256_set1_ps(s);
  for (int d = 0; d < n; d += 8) {
    _mm256_storeu_ps(acc + d, round_f16(_mm256_fmadd_ps(load_f16(v + d), vs, _mm256_loadu_ps(acc + d))));
  }
}

void mad_f32(float* acc, const float* v, float s, int n) {
  const __m256 vs = _mm256_set1_ps(s);
  for (int d = 0; d < n; d += 8) {
    _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(_mm256_loadu_ps(v + d), vs, _mm256_loadu_ps(acc + d)));
  }
}

constexpr CachedAttnKernels kAvx2 = {"avx2", dot_f16, scale_f16, mad_f16, mad_f32};

}  // namespace

const CachedAttnKernels& cached_attn_kernels() { return kAvx2; }

}  // namespace shortgpt::avx2
