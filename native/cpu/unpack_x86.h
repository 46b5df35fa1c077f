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

// One 32-block of a row as 32 codes, with its scale and correction weight
// (value = d*(code - offset), or d*code + m: cw = -offset*d, or m).
template <int32_t kType>
inline __m256i decode_block32(const uint8_t* row, int64_t b, float* d, float* cw) {
  if constexpr (kType == 2) {  // Q4_0
    const BlockQ4_0& x = reinterpret_cast<const BlockQ4_0*>(row)[b];
    *d = h2f(x.d);
    *cw = -8.0f * *d;
    return nibbles32(x.qs);
  } else if constexpr (kType == 3) {  // Q4_1
    const BlockQ4_1& x = reinterpret_cast<const BlockQ4_1*>(row)[b];
    *d = h2f(x.d);
    *cw = h2f(x.m);
    return nibbles32(x.qs);
  } else if constexpr (kType == 6) {  // Q5_0
    const BlockQ5_0& x = reinterpret_cast<const BlockQ5_0*>(row)[b];
    *d = h2f(x.d);
    *cw = -16.0f * *d;
    return _mm256_or_si256(nibbles32(x.qs), _mm256_and_si256(bits32(x.qh), _mm256_set1_epi8(16)));
  } else if constexpr (kType == 7) {  // Q5_1
    const BlockQ5_1& x = reinterpret_cast<const BlockQ5_1*>(row)[b];
    *d = h2f(x.d);
    *cw = h2f(x.m);
    return _mm256_or_si256(nibbles32(x.qs), _mm256_and_si256(bits32(x.qh), _mm256_set1_epi8(16)));
  } else if constexpr (kType == 8) {  // Q8_0
    const BlockQ8_0& x = reinterpret_cast<const BlockQ8_0*>(row)[b];
    *d = h2f(x.d);
    *cw = 0.0f;
    return load32(reinterpret_cast<const uint8_t*>(x.qs));
  } else {  // IQ4_NL
    const BlockIQ4_NL& x = reinterpret_cast<const BlockIQ4_NL*>(row)[b];
    *d = h2f(x.d);
    *cw = 0.0f;
    return iq4_values(nibbles32(x.qs));
  }
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// 16 bytes (lanes 0..15) widened to 16 int16 lanes.
inline __m256i widen_u8(__m128i v) { return _mm256_cvtepu8_epi16(v); }
inline __m256i widen_i8(__m128i v) { return _mm256_cvtepi8_epi16(v); }
// 8 bytes, each repeated twice (a scale per 32 codes -> per 16), widened to int16.
inline __m256i widen_u8_twice(uint64_t v8) {
  const __m128i v = _mm_cvtsi64_si128(static_cast<long long>(v8));
  return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v));
}

// One super-block of a row: 8 vectors of 32 codes in element order; the 16
// sub-block scales (per 16 codes; formats with scales per 32 repeat them) as
// 16 int16 lanes; d; and the 16 correction weights as cw_mul * cw16 (int16
// lanes). Built in vectors: scalar stores of small fields reloaded as
// vectors stall on store forwarding.
template <int32_t kType>
inline void decode_superblock(const uint8_t* row, int64_t sb, __m256i* v, __m256i* sc16, float* d, __m256i* cw16,
                              float* cw_mul) {
  const __m256i m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15);
  const __m128i l15 = _mm_set1_epi8(15);
  if constexpr (kType == 10) {  // Q2_K: d*sc*u - dmin*mn
    const BlockQ2_K& b = reinterpret_cast<const BlockQ2_K*>(row)[sb];
    for (int half = 0; half < 2; ++half) {
      const __m256i q = load32(b.qs + 32 * half);
      for (int shift = 0; shift < 4; ++shift) v[4 * half + shift] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * shift), m3);
    }
    const __m128i sv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    *sc16 = widen_u8(_mm_and_si128(sv, l15));
    *cw16 = widen_u8(_mm_and_si128(_mm_srli_epi16(sv, 4), l15));
    *d = h2f(b.d);
    *cw_mul = -h2f(b.dmin);
  } else if constexpr (kType == 11) {  // Q3_K: d*sc*(u-4), sc 6-bit signed per 16
    const BlockQ3_K& b = reinterpret_cast<const BlockQ3_K*>(row)[sb];
    const __m256i hm = load32(b.hmask);
    for (int half = 0; half < 2; ++half) {
      const __m256i q = load32(b.qs + 32 * half);
      for (int shift = 0; shift < 4; ++shift) {
        const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(q, 2 * shift), m3);
        v[4 * half + shift] = _mm256_or_si256(q2, bit_to(hm, 1 << (4 * half + shift), 4));
      }
    }
    // Low 4 bits: scales[k] & 15 for k < 8, scales[k-8] >> 4 after; high 2 bits:
    // bits 2(k/4)..2(k/4)+1 of scales[8 + k%4].
    uint64_t lo8;
    std::memcpy(&lo8, b.scales, 8);
    const __m128i lo = _mm_unpacklo_epi64(_mm_cvtsi64_si128(static_cast<long long>(lo8 & 0x0f0f0f0f0f0f0f0full)),
                                          _mm_cvtsi64_si128(static_cast<long long>((lo8 >> 4) & 0x0f0f0f0f0f0f0f0full)));
    const uint32_t h = load_u32(b.scales + 8);
    const __m128i hi = _mm_setr_epi32(static_cast<int>(h & 0x03030303u), static_cast<int>((h >> 2) & 0x03030303u),
                                      static_cast<int>((h >> 4) & 0x03030303u), static_cast<int>((h >> 6) & 0x03030303u));
    const __m128i s6 = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
    *cw16 = *sc16 = widen_i8(s6);
    *d = h2f(b.d);
    *cw_mul = -4.0f * *d;
  } else if constexpr (kType == 12 || kType == 13) {  // Q4_K / Q5_K: d*sc*u - dmin*mn, 6-bit per 32
    using Block = std::conditional_t<kType == 12, BlockQ4_K, BlockQ5_K>;
    const Block& b = reinterpret_cast<const Block*>(row)[sb];
    // k < 4: sc = s[k] & 63, m = s[k+4] & 63; k >= 4: the low 4 bits from s[k+4]
    // (low / high nibble), the high 2 from the top bits of s[k-4] / s[k].
    const uint32_t a = load_u32(b.scales), c = load_u32(b.scales + 4), e = load_u32(b.scales + 8);
    const uint32_t sc_lo = a & 0x3f3f3f3fu, m_lo = c & 0x3f3f3f3fu;
    const uint32_t sc_hi = (e & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((e >> 4) & 0x0f0f0f0fu) | (((c >> 6) & 0x03030303u) << 4);
    *sc16 = widen_u8_twice(sc_lo | static_cast<uint64_t>(sc_hi) << 32);
    *cw16 = widen_u8_twice(m_lo | static_cast<uint64_t>(m_hi) << 32);
    for (int q = 0; q < 4; ++q) {
      const __m256i x = load32(b.qs + 32 * q);
      __m256i lo = _mm256_and_si256(x, m15), hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m15);
      if constexpr (kType == 13) {
        const __m256i qh = load32(b.qh);
        lo = _mm256_or_si256(lo, bit_to(qh, 1 << (2 * q), 16));
        hi = _mm256_or_si256(hi, bit_to(qh, 1 << (2 * q + 1), 16));
      }
      v[2 * q] = lo;
      v[2 * q + 1] = hi;
    }
    *d = h2f(b.d);
    *cw_mul = -h2f(b.dmin);
  } else if constexpr (kType == 14) {  // Q6_K: d*sc*(u-32), int8 per 16
    const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(row)[sb];
    for (int half = 0; half < 2; ++half) {
      const __m256i l0 = load32(b.ql + 64 * half), l1 = load32(b.ql + 64 * half + 32);
      const __m256i qh = load32(b.qh + 32 * half);
      auto high = [&](int shift) {  // bits shift..shift+1 of qh, moved to bits 4..5
        return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, shift), m3), 4);
      };
      v[4 * half] = _mm256_or_si256(_mm256_and_si256(l0, m15), high(0));
      v[4 * half + 1] = _mm256_or_si256(_mm256_and_si256(l1, m15), high(2));
      v[4 * half + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m15), high(4));
      v[4 * half + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m15), high(6));
    }
    *cw16 = *sc16 = widen_i8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    *d = h2f(b.d);
    *cw_mul = -32.0f * *d;
  } else {  // IQ4_XS: d*sc*grid[u], 6-bit signed per 32
    const BlockIQ4_XS& b = reinterpret_cast<const BlockIQ4_XS*>(row)[sb];
    uint64_t ls = 0;
    for (int k = 0; k < 8; ++k) ls |= static_cast<uint64_t>(static_cast<uint8_t>(iq4xs_scale(b, k))) << (8 * k);
    *sc16 = widen_i8(_mm_unpacklo_epi8(_mm_cvtsi64_si128(static_cast<long long>(ls)),
                                       _mm_cvtsi64_si128(static_cast<long long>(ls))));
    for (int k = 0; k < 8; ++k) v[k] = iq4_values(nibbles32(b.qs + 16 * k));
    *d = h2f(b.d);
    *cw16 = _mm256_setzero_si256();
    *cw_mul = 0.0f;
  }
}

// v[i][j] <-> v[j][i] for an 8x8 matrix of 32-bit elements: 8 row vectors of
// codes become 8 step vectors (4 codes of each of the 8 rows).
inline void transpose8(__m256i* v) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
    v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
  }
}

// Requests the bytes [from, from + bytes) of each row into L2 before decoding
// starts: decoding walks 8 rows in step, which the hardware prefetchers follow
// poorly, and at small T (one token) the matmul waits on these loads.
inline void prefetch_rows(const uint8_t* const* rows, int64_t from, int64_t bytes) {
  for (int r = 0; r < 8; ++r) {
    if (!rows[r]) continue;
    for (int64_t off = 0; off < bytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(rows[r] + from + off), _MM_HINT_T1);
  }
}

// Eight rows (null = absent, left zero) of a row-interleaved group: rows
// 8*half..8*half+7 of the group, blocks [b0, b0+nb) of the chunk. A step
// vector of the group is `vec` bytes; these rows fill its `half`-th 32 bytes.
template <int32_t kType>
void unpack8_q32(const uint8_t* const* rows, int64_t b0, int64_t nb, const PanelLayout& p, const PanelPtrs& o,
                 int half, int vec) {
  const int64_t g = p.mr;
  constexpr int64_t kBlockBytes = kType == 2 || kType == 20 ? 18 : kType == 3 ? 20 : kType == 6 ? 22 : kType == 7 ? 24 : 34;
  prefetch_rows(rows, b0 * kBlockBytes, nb * kBlockBytes);
  for (int64_t b = 0; b < nb; ++b) {
    __m256i v[8];
    for (int r = 0; r < 8; ++r) {
      const int64_t lane = 8 * half + r;
      if (!rows[r]) {
        v[r] = _mm256_setzero_si256();
        continue;
      }
      float d, cw;
      v[r] = decode_block32<kType>(rows[r], b0 + b, &d, &cw);
      o.d[b * g + lane] = d;
      if (p.ncw) o.c[b * g + lane] = cw;
    }
    transpose8(v);
    for (int j = 0; j < 8; ++j) store32(o.q + (8 * b + j) * vec + 32 * half, v[j]);
  }
}

template <int32_t kType>
void unpack8_k(const uint8_t* const* rows, int64_t s0, int64_t ns, const PanelLayout& p, const PanelPtrs& o,
               int half, int vec) {
  const int64_t g = p.mr;
  int32_t* scales = reinterpret_cast<int32_t*>(o.s);  // one (sc, sc) i16 pair per row and sub-block
  constexpr int64_t kBlockBytes = kType == 10 ? 84 : kType == 11 ? 110 : kType == 12 ? 144 : kType == 13 ? 176 : kType == 14 ? 210 : 136;
  prefetch_rows(rows, s0 * kBlockBytes, ns * kBlockBytes);
  for (int64_t sb = 0; sb < ns; ++sb) {
    __m256i v[8][8];
    // Per row: 16 (sc, sc) pairs and 16 correction weights, as two 8-lane
    // vectors each; transposed below like the codes, so every store is a vector.
    __m256i pairs[2][8];
    __m256i corr[2][8];
    for (int r = 0; r < 8; ++r) {
      const int64_t lane = 8 * half + r;
      if (!rows[r]) {
        for (int c = 0; c < 8; ++c) v[r][c] = _mm256_setzero_si256();
        pairs[0][r] = pairs[1][r] = corr[0][r] = corr[1][r] = _mm256_setzero_si256();
        continue;
      }
      __m256i sc16, cw16;
      float d, cw_mul;
      decode_superblock<kType>(rows[r], s0 + sb, v[r], &sc16, &d, &cw16, &cw_mul);
      o.d[sb * g + lane] = d;
      const __m256 mul = _mm256_set1_ps(cw_mul);
      for (int h = 0; h < 2; ++h) {
        const __m128i s8 = h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16);
        const __m256i s32 = _mm256_cvtepi16_epi32(s8);
        pairs[h][r] = _mm256_or_si256(_mm256_and_si256(s32, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(s32, 16));
        const __m128i c8 = h ? _mm256_extracti128_si256(cw16, 1) : _mm256_castsi256_si128(cw16);
        corr[h][r] = _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(c8)), mul));
      }
    }
    for (int h = 0; h < 2; ++h) {
      transpose8(pairs[h]);
      for (int k = 0; k < 8; ++k) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(scales + (16 * sb + 8 * h + k) * g + 8 * half), pairs[h][k]);
      }
      if (p.ncw) {
        transpose8(corr[h]);
        for (int k = 0; k < 8; ++k) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.c + (16 * sb + 8 * h + k) * g + 8 * half), corr[h][k]);
        }
      }
    }
    for (int c = 0; c < 8; ++c) {
      __m256i t[8];
      for (int r = 0; r < 8; ++r) t[r] = v[r][c];
      transpose8(t);
      for (int j = 0; j < 8; ++j) store32(o.q + (64 * sb + 8 * c + j) * vec + 32 * half, t[j]);
    }
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
