// AVX2 + FMA + F16C versions of the ops that cost enough to matter
// (ops_isa.h). Same float operations as the scalar references in ops.cc,
// except exp, which is a polynomial here (exp8, within ~2 ulp of expf).
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "cpu/fp16.h"
#include "cpu/ops_isa.h"

namespace shortgpt::cpu::avx2 {

namespace {

// e^x for 8 floats: x = n*ln2 + r with |r| <= ln2/2 (ln2 split in two so n*ln2
// is exact), e^r by its degree-7 Taylor polynomial (truncation < 1e-8
// relative), and 2^n applied as two factors so subnormal results come out
// right. Inputs above ln(FLT_MAX) give inf, below ln(smallest subnormal / 2)
// give 0, NaN stays NaN.
inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-103.97208404541015625f);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269502162933349609375f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// Adds the 8 floats of v, widened to double, into acc (two 4-lane halves).
inline void add_to_double(__m256d& acc0, __m256d& acc1, __m256 v) {
  acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

inline double hsum_pd(__m256d a, __m256d b) {
  const __m256d s = _mm256_add_pd(a, b);
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
  return _mm_cvtsd_f64(h);
}

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

void rmsnorm(float* y, const float* x, const float* w, int64_t n, float eps) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    add_to_double(a0, a1, _mm256_mul_ps(v, v));
  }
  double sum = hsum_pd(a0, a1);
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float s = 1.0f / std::sqrt(mean + eps);
  const __m256 sv = _mm256_set1_ps(s);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sv);
    if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
    _mm256_storeu_ps(y + i, v);
  }
  for (; i < n; ++i) {
    const float v = x[i] * s;
    y[i] = w ? v * w[i] : v;
  }
}

void softmax(float* y, const float* x, int64_t n, float scale, const float* mask) {
  const __m256 sv = _mm256_set1_ps(scale);
  __m256 mv = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sv);
    if (mask) v = _mm256_add_ps(v, _mm256_loadu_ps(mask + i));
    _mm256_storeu_ps(y + i, v);
    mv = _mm256_max_ps(mv, v);
  }
  float max = hmax(mv);
  for (; i < n; ++i) {
    float v = x[i] * scale;
    if (mask) v = v + mask[i];
    y[i] = v;
    max = std::fmax(max, v);
  }
  if (max == -INFINITY) {
    std::memset(y, 0, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  const __m256 maxv = _mm256_set1_ps(max);
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(y + i), maxv));
    _mm256_storeu_ps(y + i, e);
    add_to_double(a0, a1, e);
  }
  double sum = hsum_pd(a0, a1);
  for (; i < n; ++i) {
    y[i] = std::exp(y[i] - max);
    sum += static_cast<double>(y[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  const __m256 iv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), iv));
  for (; i < n; ++i) y[i] *= inv;
}

inline __m256 silu8(__m256 v) {
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
  return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

void silu(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, silu8(_mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void swiglu(float* y, const float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) y[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void f32_to_f16(uint16_t* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void f16_to_f32(float* y, const uint16_t* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void round_f16(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) y[i] = round_to_fp16(x[i]);
}

// 12 independent chains: enough to cover FMA latency x throughput on current cores.
double fma_burn(int64_t iters, float* sink) {
  __m256 a[12];
  for (int j = 0; j < 12; ++j) a[j] = _mm256_set1_ps(0.1f * static_cast<float>(j + 1));
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
  for (int64_t k = 0; k < iters; ++k) {
    a[0] = _mm256_fmadd_ps(a[0], b, c);
    a[1] = _mm256_fmadd_ps(a[1], b, c);
    a[2] = _mm256_fmadd_ps(a[2], b, c);
    a[3] = _mm256_fmadd_ps(a[3], b, c);
    a[4] = _mm256_fmadd_ps(a[4], b, c);
    a[5] = _mm256_fmadd_ps(a[5], b, c);
    a[6] = _mm256_fmadd_ps(a[6], b, c);
    a[7] = _mm256_fmadd_ps(a[7], b, c);
    a[8] = _mm256_fmadd_ps(a[8], b, c);
    a[9] = _mm256_fmadd_ps(a[9], b, c);
    a[10] = _mm256_fmadd_ps(a[10], b, c);
    a[11] = _mm256_fmadd_ps(a[11], b, c);
  }
  __m256 s = a[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, a[j]);
  *sink = _mm256_cvtss_f32(s);
  return 12.0 * 16.0 * static_cast<double>(iters);
}

}  // namespace

const OpsIsa& ops_isa() {
  static const OpsIsa isa{rmsnorm, softmax, silu, swiglu, f32_to_f16, f16_to_f32, round_f16, fma_burn};
  return isa;
}

}  // namespace shortgpt::cpu::avx2
