// Decoding a block into small integer codes in element order, plus its
// integer sub-block scales: the one description of each bit layout that both
// the scalar dot products (vec_dot.cc) and the SIMD weight unpacking
// (gemm_generic.inl) use. Dequantization (dequantize.cc) is written out
// separately and checked against gguf-py, which checks these too through the
// matmul tests.
//
// Codes are unsigned with a per-format offset where the format allows it
// (value = scale * (u - offset)), small enough for u8 x s8 multiplies without
// 16-bit saturation (u <= 63); the signed-grid formats (Q8_0, IQ4_NL, IQ4_XS)
// give int8 codes.
//
// `static inline`: included by the AVX2/AVX-512 files (see fp16.h). The
// __restrict qualifiers let the compiler vectorize the byte loops there.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/quant_blocks.h"

namespace shortgpt::cpu {

// Q4_0: value = d * (u - 8).  Q4_1: value = d * u + m.  u in 0..15.
static inline void decode_nibbles32(const uint8_t* __restrict qs, uint8_t* __restrict u) {
  for (int j = 0; j < 16; ++j) {
    u[j] = qs[j] & 15;
    u[j + 16] = qs[j] >> 4;
  }
}

// Q5_0: value = d * (u - 16).  Q5_1: value = d * u + m.  u in 0..31.
static inline void decode_q5_32(const uint8_t* qh_bytes, const uint8_t* __restrict qs, uint8_t* __restrict u) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    u[j] = static_cast<uint8_t>((qs[j] & 15) | (((qh >> j) & 1) << 4));
    u[j + 16] = static_cast<uint8_t>((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
  }
}

// IQ4_NL (and each 32 of IQ4_XS): value = d * s, s on the non-linear grid.
static inline void decode_iq4_32(const uint8_t* __restrict qs, int8_t* __restrict s) {
  for (int j = 0; j < 16; ++j) {
    s[j] = kIq4nlValues[qs[j] & 15];
    s[j + 16] = kIq4nlValues[qs[j] >> 4];
  }
}

// Q2_K: value = d * sc[k] * u - dmin * mn[k], k = element / 16, u in 0..3.
static inline void decode_q2_K(const BlockQ2_K& b, uint8_t* __restrict u, int16_t* sc, int16_t* mn) {
  for (int k = 0; k < 16; ++k) {
    sc[k] = b.scales[k] & 15;
    mn[k] = b.scales[k] >> 4;
  }
  for (int half = 0; half < 2; ++half) {
    for (int shift = 0; shift < 4; ++shift) {
      for (int l = 0; l < 32; ++l) {
        u[128 * half + 32 * shift + l] = (b.qs[32 * half + l] >> (2 * shift)) & 3;
      }
    }
  }
}

// Q3_K: value = d * sc[k] * (u - 4), k = element / 16, u in 0..7, sc in -32..31.
static inline void decode_q3_K(const BlockQ3_K& b, uint8_t* __restrict u, int16_t* sc) {
  for (int k = 0; k < 16; ++k) sc[k] = static_cast<int16_t>(q3k_scale(b.scales, k));
  for (int half = 0; half < 2; ++half) {
    for (int shift = 0; shift < 4; ++shift) {
      const int hbit = 4 * half + shift;
      for (int l = 0; l < 32; ++l) {
        const int q2 = (b.qs[32 * half + l] >> (2 * shift)) & 3;
        u[128 * half + 32 * shift + l] = static_cast<uint8_t>(q2 | (((b.hmask[l] >> hbit) & 1) << 2));
      }
    }
  }
}

// Q4_K: value = d * sc[k] * u - dmin * mn[k], k = element / 32, u in 0..15.
static inline void decode_q4_K(const BlockQ4_K& b, uint8_t* __restrict u, int16_t* sc, int16_t* mn) {
  for (int k = 0; k < 8; ++k) {
    uint8_t s, m;
    k4_scale_min(b.scales, k, &s, &m);
    sc[k] = s;
    mn[k] = m;
  }
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      u[64 * c + l] = b.qs[32 * c + l] & 15;
      u[64 * c + 32 + l] = b.qs[32 * c + l] >> 4;
    }
  }
}

// Q5_K: as Q4_K with u in 0..31.
static inline void decode_q5_K(const BlockQ5_K& b, uint8_t* __restrict u, int16_t* sc, int16_t* mn) {
  for (int k = 0; k < 8; ++k) {
    uint8_t s, m;
    k4_scale_min(b.scales, k, &s, &m);
    sc[k] = s;
    mn[k] = m;
  }
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      u[64 * c + l] = static_cast<uint8_t>((b.qs[32 * c + l] & 15) | (((b.qh[l] >> (2 * c)) & 1) << 4));
      u[64 * c + 32 + l] =
          static_cast<uint8_t>((b.qs[32 * c + l] >> 4) | (((b.qh[l] >> (2 * c + 1)) & 1) << 4));
    }
  }
}

// Q6_K: value = d * sc[k] * (u - 32), k = element / 16, u in 0..63.
static inline void decode_q6_K(const BlockQ6_K& b, uint8_t* __restrict u, int16_t* sc) {
  for (int k = 0; k < 16; ++k) sc[k] = b.scales[k];
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b.ql + 64 * half;
    const uint8_t* qh = b.qh + 32 * half;
    uint8_t* o = u + 128 * half;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<uint8_t>((ql[l] & 15) | ((qh[l] & 3) << 4));
      o[l + 32] = static_cast<uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
      o[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
      o[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
    }
  }
}

// IQ4_XS: value = d * sc[k] * s, k = element / 32, sc in -32..31.
static inline void decode_iq4_xs(const BlockIQ4_XS& b, int8_t* __restrict s, int16_t* sc) {
  for (int k = 0; k < 8; ++k) {
    sc[k] = static_cast<int16_t>(iq4xs_scale(b, k));
    decode_iq4_32(b.qs + 16 * k, s + 32 * k);
  }
}

}  // namespace shortgpt::cpu
