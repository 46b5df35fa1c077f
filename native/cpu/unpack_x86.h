// Unpacking weight rows into the matmul panel (gemm_panel.h) with AVX2: the
// same decoding as quant_decode.h (which the scalar dot products use), done 32
// bytes at a time, because at small T (decoding one token) unpacking is most
// of the matmul's work. Included by gemm_avx2.cc and gemm_avx512.cc (AVX-512
// CPUs have AVX2); anonymous namespace, so each gets its own copy.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/fp16.h"
#include "cpu/gemm_panel.h"
#include "cpu/quant_blocks.h"

namespace shortgpt::cpu {
namespace {
namespace x86 {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i join(__m128i lo, __m128i hi) { return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1); }

inline void store32(uint8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// 16 packed bytes -> 32 codes, low nibbles first (the Q4_0/Q4_1/IQ4 layout).
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m = _mm_set1_epi8(15);
  return join(_mm_and_si128(v, m), _mm_and_si128(_mm_srli_epi16(v, 4), m));
}

// Bit j of a little-endian u32 as byte j = 0xff or 0x00.
inline __m256i bits32(const uint8_t* qh) {
  uint32_t x;
  std::memcpy(&x, qh, 4);
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(x)), spread);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

// Bytes of v that have bit `mask` set, as `value`, else 0.
inline __m256i bit_to(__m256i v, int mask, int value) {
  const __m256i m = _mm256_set1_epi8(static_cast<char>(mask));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, m), m), _mm256_set1_epi8(static_cast<char>(value)));
}

// Codes 0..15 to the IQ4_NL grid values.
inline __m256i iq4_values(__m256i codes) {
  const __m128i lut = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues));
  return _mm256_shuffle_epi8(join(lut, lut), codes);
}

// 32-blocks: block i of the chunk goes to q[(i/2*MR + r)*64 + i%2*32].
template <int32_t kType>
void unpack_row_q32(const uint8_t* row, int64_t b0, int64_t nb, const PanelLayout& p, const PanelPtrs& o, int r) {
  const int64_t mr = p.mr;
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t c = i / 2, h = i % 2;
    uint8_t* q = o.q + (c * mr + r) * kChunk + h * 32;
    float* dp = o.d + (c * mr + r) * 2 + h;
    float* cw = o.c + r * p.ncw + i;
    if constexpr (kType == 2) {  // Q4_0: value d*(u-8)
      const BlockQ4_0& b = reinterpret_cast<const BlockQ4_0*>(row)[b0 + i];
      store32(q, nibbles32(b.qs));
      *dp = h2f(b.d);
      *cw = -8.0f * *dp;
    } else if constexpr (kType == 3) {  // Q4_1: d*u + m
      const BlockQ4_1& b = reinterpret_cast<const BlockQ4_1*>(row)[b0 + i];
      store32(q, nibbles32(b.qs));
      *dp = h2f(b.d);
      *cw = h2f(b.m);
    } else if constexpr (kType == 6) {  // Q5_0: d*(u-16)
      const BlockQ5_0& b = reinterpret_cast<const BlockQ5_0*>(row)[b0 + i];
      store32(q, _mm256_or_si256(nibbles32(b.qs), _mm256_and_si256(bits32(b.qh), _mm256_set1_epi8(16))));
      *dp = h2f(b.d);
      *cw = -16.0f * *dp;
    } else if constexpr (kType == 7) {  // Q5_1: d*u + m
      const BlockQ5_1& b = reinterpret_cast<const BlockQ5_1*>(row)[b0 + i];
      store32(q, _mm256_or_si256(nibbles32(b.qs), _mm256_and_si256(bits32(b.qh), _mm256_set1_epi8(16))));
      *dp = h2f(b.d);
      *cw = h2f(b.m);
    } else if constexpr (kType == 8) {  // Q8_0: d*q
      const BlockQ8_0& b = reinterpret_cast<const BlockQ8_0*>(row)[b0 + i];
      store32(q, load32(reinterpret_cast<const uint8_t*>(b.qs)));
      *dp = h2f(b.d);
    } else {  // IQ4_NL: d*grid[u]
      const BlockIQ4_NL& b = reinterpret_cast<const BlockIQ4_NL*>(row)[b0 + i];
      store32(q, iq4_values(nibbles32(b.qs)));
      *dp = h2f(b.d);
    }
  }
}

// The i16 madd operand of one 64-code chunk: scale of sub-block (16 codes)
// s0..s3 for sub16, or of (32 codes) t0, t1 for sub32.
inline void store_scales16(int16_t* s, const int16_t* sc) {
  const __m256i a = join(_mm_set1_epi16(sc[0]), _mm_set1_epi16(sc[1]));
  const __m256i b = join(_mm_set1_epi16(sc[2]), _mm_set1_epi16(sc[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(s), a);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(s + 16), b);
}
inline void store_scales32(int16_t* s, const int16_t* sc) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(s), _mm256_set1_epi16(sc[0]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(s + 16), _mm256_set1_epi16(sc[1]));
}

// Super-blocks: element e of super-block i goes to chunk 4i + e/64, byte e%64.
template <int32_t kType>
void unpack_row_k(const uint8_t* row, int64_t s0, int64_t ns, const PanelLayout& p, const PanelPtrs& o, int r) {
  const int64_t mr = p.mr;
  const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
  for (int64_t i = 0; i < ns; ++i) {
    auto chunk = [&](int c) { return o.q + ((4 * i + c) * mr + r) * kChunk; };
    auto scales = [&](int c) { return o.s + ((4 * i + c) * mr + r) * 32; };
    float* cw = p.ncw ? o.c + r * p.ncw + 16 * i : nullptr;
    float d;
    if constexpr (kType == 10) {  // Q2_K: d*sc*u - dmin*mn, per 16
      const BlockQ2_K& b = reinterpret_cast<const BlockQ2_K*>(row)[s0 + i];
      int16_t sc[16];
      for (int k = 0; k < 16; ++k) sc[k] = b.scales[k] & 15;
      for (int half = 0; half < 2; ++half) {
        const __m256i v = load32(b.qs + 32 * half);
        for (int shift = 0; shift < 4; ++shift) {
          store32(chunk(2 * half + shift / 2) + (shift % 2) * 32,
                  _mm256_and_si256(_mm256_srli_epi16(v, 2 * shift), m3));
        }
      }
      for (int c = 0; c < 4; ++c) store_scales16(scales(c), sc + 4 * c);
      d = h2f(b.d);
      const float dmin = h2f(b.dmin);
      for (int k = 0; k < 16; ++k) cw[k] = -dmin * static_cast<float>(b.scales[k] >> 4);
    } else if constexpr (kType == 11) {  // Q3_K: d*sc*(u-4), per 16
      const BlockQ3_K& b = reinterpret_cast<const BlockQ3_K*>(row)[s0 + i];
      int16_t sc[16];
      for (int k = 0; k < 16; ++k) sc[k] = static_cast<int16_t>(q3k_scale(b.scales, k));
      const __m256i hm = load32(b.hmask);
      for (int half = 0; half < 2; ++half) {
        const __m256i v = load32(b.qs + 32 * half);
        for (int shift = 0; shift < 4; ++shift) {
          const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(v, 2 * shift), m3);
          store32(chunk(2 * half + shift / 2) + (shift % 2) * 32, _mm256_or_si256(q2, bit_to(hm, 1 << (4 * half + shift), 4)));
        }
      }
      for (int c = 0; c < 4; ++c) store_scales16(scales(c), sc + 4 * c);
      d = h2f(b.d);
      for (int k = 0; k < 16; ++k) cw[k] = -4.0f * d * static_cast<float>(sc[k]);
    } else if constexpr (kType == 12 || kType == 13) {  // Q4_K / Q5_K: d*sc*u - dmin*mn, per 32
      using Block = std::conditional_t<kType == 12, BlockQ4_K, BlockQ5_K>;
      const Block& b = reinterpret_cast<const Block*>(row)[s0 + i];
      int16_t sc[8], mn[8];
      for (int k = 0; k < 8; ++k) {
        uint8_t s, m;
        k4_scale_min(b.scales, k, &s, &m);
        sc[k] = s;
        mn[k] = m;
      }
      for (int c = 0; c < 4; ++c) {
        const __m256i v = load32(b.qs + 32 * c);
        __m256i lo = _mm256_and_si256(v, m15), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m15);
        if constexpr (kType == 13) {
          const __m256i qh = load32(b.qh);
          lo = _mm256_or_si256(lo, bit_to(qh, 1 << (2 * c), 16));
          hi = _mm256_or_si256(hi, bit_to(qh, 1 << (2 * c + 1), 16));
        }
        store32(chunk(c), lo);
        store32(chunk(c) + 32, hi);
        store_scales32(scales(c), sc + 2 * c);
      }
      d = h2f(b.d);
      const float dmin = h2f(b.dmin);
      for (int k = 0; k < 16; ++k) cw[k] = -dmin * static_cast<float>(mn[k / 2]);
    } else if constexpr (kType == 14) {  // Q6_K: d*sc*(u-32), per 16
      const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(row)[s0 + i];
      int16_t sc[16];
      for (int k = 0; k < 16; ++k) sc[k] = b.scales[k];
      for (int half = 0; half < 2; ++half) {
        const __m256i l0 = load32(b.ql + 64 * half), l1 = load32(b.ql + 64 * half + 32);
        const __m256i qh = load32(b.qh + 32 * half);
        auto high = [&](int shift) {  // bits shift..shift+1 of qh, moved to bits 4..5
          return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, shift), m3), 4);
        };
        store32(chunk(2 * half), _mm256_or_si256(_mm256_and_si256(l0, m15), high(0)));
        store32(chunk(2 * half) + 32, _mm256_or_si256(_mm256_and_si256(l1, m15), high(2)));
        store32(chunk(2 * half + 1), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m15), high(4)));
        store32(chunk(2 * half + 1) + 32, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m15), high(6)));
      }
      for (int c = 0; c < 4; ++c) store_scales16(scales(c), sc + 4 * c);
      d = h2f(b.d);
      for (int k = 0; k < 16; ++k) cw[k] = -32.0f * d * static_cast<float>(sc[k]);
    } else {  // IQ4_XS: d*sc*grid[u], per 32
      const BlockIQ4_XS& b = reinterpret_cast<const BlockIQ4_XS*>(row)[s0 + i];
      int16_t sc[8];
      for (int k = 0; k < 8; ++k) {
        sc[k] = static_cast<int16_t>(iq4xs_scale(b, k));
        store32(chunk(k / 2) + (k % 2) * 32, iq4_values(nibbles32(b.qs + 16 * k)));
      }
      for (int c = 0; c < 4; ++c) store_scales32(scales(c), sc + 2 * c);
      d = h2f(b.d);
    }
    o.d[i * mr + r] = d;
  }
}

// Float weights: n values from element e0 into f[(k/16*MR + r)*16 + k%16], zero-padded to 16.
template <int32_t kType>
void unpack_row_float(const uint8_t* row, int64_t e0, int64_t n, const PanelLayout& p, float* f, int r) {
  const int64_t mr = p.mr;
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    float* dst = f + ((k / 16) * mr + r) * 16;
    for (int h = 0; h < 2; ++h) {
      __m256 v;
      if constexpr (kType == 0) {
        v = _mm256_loadu_ps(reinterpret_cast<const float*>(row) + e0 + k + 8 * h);
      } else {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * (e0 + k + 8 * h)));
        v = kType == 1 ? _mm256_cvtph_ps(raw) : _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
      }
      _mm256_storeu_ps(dst + 8 * h, v);
    }
  }
  if (k < n) {
    float* dst = f + ((k / 16) * mr + r) * 16;
    for (int64_t j = 0; j < 16; ++j) {
      const int64_t e = e0 + k + j;
      float v = 0.0f;
      if (k + j < n) {
        if constexpr (kType == 0) {
          std::memcpy(&v, row + 4 * e, 4);
        } else {
          uint16_t h;
          std::memcpy(&h, row + 2 * e, 2);
          v = kType == 1 ? h2f(h) : bf16_to_fp32(h);
        }
      }
      dst[j] = v;
    }
  }
}

// BF16 weights kept as bf16 for the pair dot product: h[(k/32*MR + r)*32 + k%32].
inline void unpack_row_bf16_pairs(const uint8_t* row, int64_t e0, int64_t n, const PanelLayout& p, uint16_t* h,
                                  int r) {
  const int64_t mr = p.mr;
  for (int64_t k = 0; k < n; k += 32) {
    uint16_t* dst = h + ((k / 32) * mr + r) * 32;
    const int64_t m = n - k < 32 ? n - k : 32;
    std::memcpy(dst, row + 2 * (e0 + k), static_cast<size_t>(m) * 2);
    for (int64_t j = m; j < 32; ++j) dst[j] = 0;
  }
}

}  // namespace x86
}  // namespace
}  // namespace shortgpt::cpu
