// The attention inner loops with AVX2 + FMA (attention_kernels.h), compiled
// with -mavx2 -mfma -mf16c and called only after run-time CPU detection.
// Same bits as the scalar versions in attention.cc: each output element is
// one FMA chain in the same order; vectors only run several chains at once.
#include <immintrin.h>

#include <cstdint>

#include "engine/attention_kernels.h"

namespace shortgpt::avx2 {

namespace {

// ggml's AVX2 e^x (ggml_v_expf, after ARM's optimized routines): n = round(x / ln 2)
// by the 1.5 * 2^23 trick, r = x - n ln2 in two parts, a degree-5 polynomial
// in r, and 2^n built in the exponent bits, with a two-factor scale when |n|
// exceeds 126 so results near overflow and underflow stay right.
inline __m256 exp_ggml(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 scale = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 big = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 hi = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), r, _mm256_set1_ps(0x1.573e2ep-5f));
  const __m256 lo = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), r, _mm256_set1_ps(0x1.fffdb6p-2f));
  const __m256 poly = _mm256_fmadd_ps(_mm256_fmadd_ps(hi, r2, lo), r2, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), r));
  if (!_mm256_movemask_ps(big)) return _mm256_fmadd_ps(poly, scale, scale);
  const __m256i neg = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(neg, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, neg));
  const __m256 huge = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 two_step = _mm256_mul_ps(_mm256_fmadd_ps(s2, poly, s2), s1);
  const __m256 normal = _mm256_fmadd_ps(scale, poly, scale);
  const __m256 mid = _mm256_blendv_ps(normal, two_step, big);
  return _mm256_blendv_ps(mid, _mm256_mul_ps(s1, s1), huge);
}

// ggml's 8-lane horizontal sum: (hi + lo halves), then pairs, then the last two.
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Blocks of 4 query rows x 16 key cells: the 16 columns of K^T (dk x 64 B)
// stay in L1 while every row block passes over them.
void scores(const float* q, const float* kt, int dk, float scale, float* s) {
  const __m256 sc = _mm256_set1_ps(scale);
  for (int jb = 0; jb < kAttnTile; jb += 16) {
    for (int i = 0; i < kAttnTile; i += 4) {
      __m256 a[4][2];
      for (int r = 0; r < 4; ++r) a[r][0] = a[r][1] = _mm256_setzero_ps();
      const float* qr = q + i * dk;
      for (int d = 0; d < dk; ++d) {
        const __m256 k0 = _mm256_loadu_ps(kt + d * kAttnTile + jb);
        const __m256 k1 = _mm256_loadu_ps(kt + d * kAttnTile + jb + 8);
        for (int r = 0; r < 4; ++r) {
          const __m256 b = _mm256_broadcast_ss(qr + r * dk + d);
          a[r][0] = _mm256_fmadd_ps(k0, b, a[r][0]);
          a[r][1] = _mm256_fmadd_ps(k1, b, a[r][1]);
        }
      }
      // The scale is a separate multiply after the chain, as ggml scales KQ.
      for (int r = 0; r < 4; ++r) {
        _mm256_storeu_ps(s + (i + r) * kAttnTile + jb, _mm256_mul_ps(a[r][0], sc));
        _mm256_storeu_ps(s + (i + r) * kAttnTile + jb + 8, _mm256_mul_ps(a[r][1], sc));
      }
    }
  }
}

double exp_row(float* row, float max) {
  const __m256 m = _mm256_set1_ps(max);
  double sum = 0.0;
  for (int j = 0; j < kAttnTile; j += 8) {
    const __m256 e = exp_ggml(_mm256_sub_ps(_mm256_loadu_ps(row + j), m));
    _mm256_storeu_ps(row + j, e);
    sum += static_cast<double>(hsum8(e));
  }
  return sum;
}

// Blocks of 4 rows x 16 output columns: the 16 columns of the V tile
// (64 rows x 64 B) stay in L1 while every row block passes over them.
void accumulate(const float* p, const float* v, int dv, float* acc) {
  for (int db = 0; db < dv; db += 16) {
    const bool two = db + 16 <= dv;  // dv is a multiple of 8
    for (int i = 0; i < kAttnTile; i += 4) {
      __m256 a[4][2];
      for (int r = 0; r < 4; ++r) {
        a[r][0] = _mm256_loadu_ps(acc + (i + r) * dv + db);
        a[r][1] = two ? _mm256_loadu_ps(acc + (i + r) * dv + db + 8) : _mm256_setzero_ps();
      }
      const float* pr = p + i * kAttnTile;
      for (int j = 0; j < kAttnTile; ++j) {
        const __m256 v0 = _mm256_loadu_ps(v + j * dv + db);
        const __m256 v1 = two ? _mm256_loadu_ps(v + j * dv + db + 8) : _mm256_setzero_ps();
        for (int r = 0; r < 4; ++r) {
          const __m256 b = _mm256_broadcast_ss(pr + r * kAttnTile + j);
          a[r][0] = _mm256_fmadd_ps(v0, b, a[r][0]);
          a[r][1] = _mm256_fmadd_ps(v1, b, a[r][1]);
        }
      }
      for (int r = 0; r < 4; ++r) {
        _mm256_storeu_ps(acc + (i + r) * dv + db, a[r][0]);
        if (two) _mm256_storeu_ps(acc + (i + r) * dv + db + 8, a[r][1]);
      }
    }
  }
}

constexpr AttnKernels kKernels = {"avx2", scores, exp_row, accumulate};

}  // namespace

const AttnKernels& attn_kernels() { return kKernels; }

}  // namespace shortgpt::avx2
