// The AVX2 + FMA + F16C matmul: activation conversion written out here, the
// tiled kernels from gemm_generic.inl over 256-bit integer and float vectors.
// Compiled with -mavx2 -mfma -mf16c; called only after cpu_features()
// reported all three.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "cpu/fp16.h"
#include "cpu/gemm_isa.h"
#include "cpu/quant_blocks.h"
#include "cpu/quant_decode.h"
#include "cpu/unpack_x86.h"

namespace shortgpt::cpu::avx2 {

namespace {

struct Isa {
  static constexpr int kVecBytes = 32;
  static constexpr int kFloats = 8;
  static constexpr int kNrInt = 4;  // activation rows per integer micro-kernel (16 registers)
  static constexpr bool kVnni = false;
  using I = __m256i;
  using F = __m256;

  static I loadi(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static F loadf(const float* p) { return _mm256_loadu_ps(p); }
  static void storef(float* p, F v) { _mm256_storeu_ps(p, v); }
  static I zeroi() { return _mm256_setzero_si256(); }
  static F zerof() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static I set1_i16(int16_t v) { return _mm256_set1_epi16(v); }
  // 4 activation quants to every 32-bit lane.
  static I bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }
  // u8 x s8 products summed in pairs to i16 (callers keep them from saturating).
  static I maddubs(I u, I s) { return _mm256_maddubs_epi16(u, s); }
  static I add_i16(I a, I b) { return _mm256_add_epi16(a, b); }
  // i16 pairs times i16 multipliers, summed to i32.
  static I madd(I a, I b) { return _mm256_madd_epi16(a, b); }
  static I dpbusd(I acc, I u, I s) { return _mm256_add_epi32(acc, madd(maddubs(u, s), set1_i16(1))); }
  static I abs_i8(I w) { return _mm256_sign_epi8(w, w); }
  static I sign_i8(I x, I w) { return _mm256_sign_epi8(x, w); }
  static I addi(I a, I b) { return _mm256_add_epi32(a, b); }
  static F cvt(I v) { return _mm256_cvtepi32_ps(v); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static bool bf16_pairs() { return false; }  // BF16 weights take the f32 path
  static float hsum(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

#define SHORTGPT_ISA_HAS_BF16_PAIRS 0
#include "cpu/gemm_generic.inl"
#undef SHORTGPT_ISA_HAS_BF16_PAIRS

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// 32 int32 (four vectors, in order) to 32 int8 with saturation, in order.
__m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i abcd = _mm256_packs_epi16(ab, cd);
  // The packs work per 128-bit lane; restore element order.
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

__m256i round_to_i32(__m256 v) {
  return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void convert_q8_32(const float* x, const ActView& a, int64_t row) {
  const bool q8_1 = a.format == ActFormat::Q8_1;
  int8_t* q = a.qs + row * a.n_pad;
  float* d = a.d + row * a.d_stride;
  float* corr = a.corr + row * a.corr_stride;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < a.n / kQK32; ++b) {
    const float* xb = x + kQK32 * b;
    const __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
    const __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
    __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
    m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    const float amax = hmax(m);
    const float dr = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m256i i0 = round_to_i32(_mm256_mul_ps(v0, id)), i1 = round_to_i32(_mm256_mul_ps(v1, id));
    const __m256i i2 = round_to_i32(_mm256_mul_ps(v2, id)), i3 = round_to_i32(_mm256_mul_ps(v3, id));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + kQK32 * b), pack_i8(i0, i1, i2, i3));
    const int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    d[b] = round_to_fp16(dr);
    corr[b] = q8_1 ? round_to_fp16(dr * static_cast<float>(sum)) : d[b] * static_cast<float>(sum);
  }
}

void convert_q8_K(const float* x, const ActView& a, int64_t row) {
  int8_t* q = a.qs + row * a.n_pad;
  float* d = a.d + row * a.d_stride;
  float* corr = a.corr + row * a.corr_stride;
  int16_t* bs = a.bsums + row * a.bsums_stride;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < a.n / kQKK; ++b) {
    const float* xb = x + kQKK * b;
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < kQKK; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
    const float amax = hmax(m);
    int8_t* qb = q + kQKK * b;
    int16_t* bsb = bs + 16 * b;
    if (amax == 0.0f) {
      std::memset(qb, 0, kQKK);
      std::memset(bsb, 0, 16 * sizeof(int16_t));
      d[b] = 0.0f;
      for (int k = 0; k < 16; ++k) corr[16 * b + k] = 0.0f;
      continue;
    }
    // The signed value of largest magnitude, first on ties (as the reference loop finds it).
    float max = 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(xb[j]) == amax) {
        max = xb[j];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 is = _mm256_set1_ps(iscale);
    const __m256i cap = _mm256_set1_epi32(127);
    for (int g = 0; g < kQKK / 32; ++g) {
      __m256i v[4];
      for (int k = 0; k < 4; ++k) {
        v[k] = _mm256_min_epi32(round_to_i32(_mm256_mul_ps(_mm256_loadu_ps(xb + 32 * g + 8 * k), is)), cap);
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(qb + 32 * g), pack_i8(v[0], v[1], v[2], v[3]));
      bsb[2 * g] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(v[0], v[1])));
      bsb[2 * g + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(v[2], v[3])));
    }
    d[b] = 1.0f / iscale;
    for (int k = 0; k < 16; ++k) corr[16 * b + k] = d[b] * static_cast<float>(bsb[k]);
  }
}

void convert_f16(const float* x, const ActView& a, int64_t row) {
  float* f = a.f + row * a.n_pad;
  int64_t i = 0;
  for (; i + 8 <= a.n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(f + i, _mm256_cvtph_ps(h));
  }
  for (; i < a.n; ++i) f[i] = round_to_fp16(x[i]);
}

void convert_bf16(const float* x, const ActView& a, int64_t row) {
  float* f = a.f + row * a.n_pad;
  uint16_t* h = a.h + row * a.n_pad;
  int64_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(64);
  for (; i + 8 <= a.n; i += 8) {
    const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
    const __m256i rne = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, lsb)), 16);
    const __m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
    const __m256i bits = _mm256_blendv_epi8(rne, qn, nan);  // 8 x u32, each < 2^16
    _mm256_storeu_ps(f + i, _mm256_castsi256_ps(_mm256_slli_epi32(bits, 16)));
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(bits, bits), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_castsi256_si128(packed));
  }
  for (; i < a.n; ++i) {
    h[i] = fp32_to_bf16(x[i]);
    f[i] = bf16_to_fp32(h[i]);
  }
}

}  // namespace

void convert_rows(const float* x, const ActView& a, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * a.n;
    switch (a.format) {
      case ActFormat::F32: std::memcpy(a.f + r * a.n_pad, xr, static_cast<size_t>(a.n) * sizeof(float)); break;
      case ActFormat::F16: convert_f16(xr, a, r); break;
      case ActFormat::BF16: convert_bf16(xr, a, r); break;
      case ActFormat::Q8_0:
      case ActFormat::Q8_1: convert_q8_32(xr, a, r); break;
      case ActFormat::Q8_K: convert_q8_K(xr, a, r); break;
    }
  }
}

const GemmIsa& gemm_isa() {
  static const GemmIsa isa{"avx2", convert_rows, task_count, scratch_bytes, run_task};
  return isa;
}

}  // namespace shortgpt::cpu::avx2
