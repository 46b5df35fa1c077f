// The dequantization formulas, once: the value of element i of one block,
// per format, as ggml's dequantize_row_* and gguf-py compute it (the same
// float operations in the same order, facts §2). Compiled for the host
// (cpu/dequantize.cc runs every block through these) and for the GPU (the
// CUDA kernels in cuda/dequant.cu decode weights with them), so the CPU's
// bit-exact dequantization tests against gguf-py cover both.
//
// Each function decodes what element i needs from the block's packed fields
// (scale, min, the quant's bits) and combines them with one rounding per
// operation (mul_rn / sub_rn / add_rn, never a fused multiply-add).
#pragma once

#include <cstdint>

#include "common/host_device.h"
#include "cpu/fp16.h"
#include "cpu/quant_blocks.h"

namespace shortgpt::cpu {

// Q4_0: y[j] = (qs[j] & 15 - 8) * d, y[j + 16] = (qs[j] >> 4 - 8) * d.
static inline SHORTGPT_HD float block_value(const BlockQ4_0& b, int i) {
  const int q = i < 16 ? (b.qs[i] & 15) : (b.qs[i - 16] >> 4);
  return mul_rn(static_cast<float>(q - 8), fp16_to_fp32(b.d));
}

// Q4_1: y = q * d + m.
static inline SHORTGPT_HD float block_value(const BlockQ4_1& b, int i) {
  const int q = i < 16 ? (b.qs[i] & 15) : (b.qs[i - 16] >> 4);
  return add_rn(mul_rn(static_cast<float>(q), fp16_to_fp32(b.d)), fp16_to_fp32(b.m));
}

// The 5-bit quant of element i of Q5_0 / Q5_1: bit 4 is bit i of qh (LE u32).
static inline SHORTGPT_HD int q5_quant(const uint8_t* qh_bytes, const uint8_t* qs, int i) {
  const uint32_t qh = static_cast<uint32_t>(qh_bytes[0]) | (static_cast<uint32_t>(qh_bytes[1]) << 8) |
                      (static_cast<uint32_t>(qh_bytes[2]) << 16) | (static_cast<uint32_t>(qh_bytes[3]) << 24);
  const int low = i < 16 ? (qs[i] & 15) : (qs[i - 16] >> 4);
  return low | static_cast<int>(((qh >> i) & 1u) << 4);
}

// Q5_0: y = (q - 16) * d.
static inline SHORTGPT_HD float block_value(const BlockQ5_0& b, int i) {
  return mul_rn(static_cast<float>(q5_quant(b.qh, b.qs, i) - 16), fp16_to_fp32(b.d));
}

// Q5_1: y = q * d + m.
static inline SHORTGPT_HD float block_value(const BlockQ5_1& b, int i) {
  return add_rn(mul_rn(static_cast<float>(q5_quant(b.qh, b.qs, i)), fp16_to_fp32(b.d)), fp16_to_fp32(b.m));
}

// Q8_0: y = q * d.
static inline SHORTGPT_HD float block_value(const BlockQ8_0& b, int i) {
  return mul_rn(static_cast<float>(b.qs[i]), fp16_to_fp32(b.d));
}

// Q2_K: i = 128 half + 32 shift + 16 sub + l; q = (qs[32 half + 16 sub + l] >> 2 shift) & 3,
// sc = scales[8 half + 2 shift + sub]; y = (d * (sc & 15)) * q - dmin * (sc >> 4).
static inline SHORTGPT_HD float block_value(const BlockQ2_K& b, int i) {
  const int half = i >> 7, shift = (i >> 5) & 3, sub = (i >> 4) & 1, l = i & 15;
  const uint8_t sc = b.scales[8 * half + 2 * shift + sub];
  const float dl = mul_rn(fp16_to_fp32(b.d), static_cast<float>(sc & 15));
  const float ml = mul_rn(fp16_to_fp32(b.dmin), static_cast<float>(sc >> 4));
  const int q = (b.qs[32 * half + 16 * sub + l] >> (2 * shift)) & 3;
  return sub_rn(mul_rn(dl, static_cast<float>(q)), ml);
}

// Q3_K: as Q2_K's layout with a signed 6-bit scale; the high bit of element
// i is bit (4 half + shift) of hmask[i % 32]; y = (d * scale) * (q2 - (hbit ? 0 : 4)).
static inline SHORTGPT_HD float block_value(const BlockQ3_K& b, int i) {
  const int half = i >> 7, shift = (i >> 5) & 3, sub = (i >> 4) & 1, l = i & 15;
  const int m = 16 * sub + l;
  const float dl = mul_rn(fp16_to_fp32(b.d), static_cast<float>(q3k_scale(b.scales, 8 * half + 2 * shift + sub)));
  const int q2 = (b.qs[32 * half + m] >> (2 * shift)) & 3;
  const int v = q2 - (((b.hmask[m] >> (4 * half + shift)) & 1) ? 0 : 4);
  return mul_rn(dl, static_cast<float>(v));
}

// Q4_K: chunk c = i / 64 of qs[32 c ..]; the low nibbles are sub-block 2c,
// the high ones 2c + 1; y = (d * sc) * q - dmin * m.
static inline SHORTGPT_HD float block_value(const BlockQ4_K& b, int i) {
  const int c = i >> 6, hi = (i >> 5) & 1, l = i & 31;
  uint8_t sc, mn;
  k4_scale_min(b.scales, 2 * c + hi, &sc, &mn);
  const float d1 = mul_rn(fp16_to_fp32(b.d), static_cast<float>(sc));
  const float m1 = mul_rn(fp16_to_fp32(b.dmin), static_cast<float>(mn));
  const int q = hi ? (b.qs[32 * c + l] >> 4) : (b.qs[32 * c + l] & 15);
  return sub_rn(mul_rn(d1, static_cast<float>(q)), m1);
}

// Q5_K: Q4_K plus a fifth bit, bit (2c + hi) of qh[l].
static inline SHORTGPT_HD float block_value(const BlockQ5_K& b, int i) {
  const int c = i >> 6, hi = (i >> 5) & 1, l = i & 31;
  uint8_t sc, mn;
  k4_scale_min(b.scales, 2 * c + hi, &sc, &mn);
  const float d1 = mul_rn(fp16_to_fp32(b.d), static_cast<float>(sc));
  const float m1 = mul_rn(fp16_to_fp32(b.dmin), static_cast<float>(mn));
  const int low = hi ? (b.qs[32 * c + l] >> 4) : (b.qs[32 * c + l] & 15);
  const int q = low | (((b.qh[l] >> (2 * c + hi)) & 1) << 4);
  return sub_rn(mul_rn(d1, static_cast<float>(q)), m1);
}

// Q6_K: per 128-element half, quarter k of 32 takes its low 4 bits from
// ql[l + 32 (k & 1)] (low nibble for k < 2, high for k >= 2), its high 2 bits
// from qh[l] >> 2k, and scale sc[l / 16 + 2k]; y = (d * sc) * (q - 32).
static inline SHORTGPT_HD float block_value(const BlockQ6_K& b, int i) {
  const int half = i >> 7, k = (i >> 5) & 3, l = i & 31;
  const uint8_t* ql = b.ql + 64 * half;
  const uint8_t* qh = b.qh + 32 * half;
  const uint8_t lbyte = ql[l + 32 * (k & 1)];
  const int low = k < 2 ? (lbyte & 15) : (lbyte >> 4);
  const int q = (low | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
  const int8_t sc = b.scales[8 * half + l / 16 + 2 * k];
  return mul_rn(mul_rn(fp16_to_fp32(b.d), static_cast<float>(sc)), static_cast<float>(q));
}

// IQ4_NL: y = d * grid[nibble], nibbles laid out as in Q4_0.
static inline SHORTGPT_HD float block_value(const BlockIQ4_NL& b, int i) {
  const int nibble = i < 16 ? (b.qs[i] & 15) : (b.qs[i - 16] >> 4);
  return mul_rn(fp16_to_fp32(b.d), static_cast<float>(iq4nl_value(nibble)));
}

// IQ4_XS: sub-block s = i / 32 decodes like IQ4_NL from qs[16 s ..] with
// dl = d * (6-bit scale - 32).
static inline SHORTGPT_HD float block_value(const BlockIQ4_XS& b, int i) {
  const int s = i >> 5, j = i & 31;
  const float dl = mul_rn(fp16_to_fp32(b.d), static_cast<float>(iq4xs_scale(b, s)));
  const uint8_t* q = b.qs + 16 * s;
  const int nibble = j < 16 ? (q[j] & 15) : (q[j - 16] >> 4);
  return mul_rn(dl, static_cast<float>(iq4nl_value(nibble)));
}

}  // namespace shortgpt::cpu
