// IEEE half (binary16) and bfloat16 <-> float, scalar, round-to-nearest-even.
//
// fp32_to_fp16 is bit-identical to F16C's vcvtps2ph with rounding mode 0 (what
// llama.cpp's CPU backend uses on x86), including subnormals, overflow to
// infinity and NaN quieting, so scalar and SIMD paths agree exactly.
// fp32_to_bf16 matches ggml's GGML_FP32_TO_BF16 (no subnormal flush).
//
// Everything here is `static inline`: this header is included by files built
// with AVX2 / AVX-512 flags, and internal linkage keeps the linker from
// picking an AVX copy of a helper for the portable code. The conversions are
// integer work plus one exact multiply, so they are also compiled for the GPU
// (SHORTGPT_HD) and give the same bits there: the CUDA dequantization kernels
// decode scales with these very functions.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/host_device.h"

namespace shortgpt::cpu {

static inline SHORTGPT_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

static inline SHORTGPT_HD float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

static inline SHORTGPT_HD float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) {
    // F16C returns a quiet NaN for a signalling one.
    return f32_from_bits(sign | 0x7f800000u | (mant ? (0x400000u | (mant << 13)) : 0u));
  }
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline SHORTGPT_HD uint16_t fp32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  // 65520 and above round to infinity (65504 is the largest half).
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a >= 0x38800000u) {
    // Normal half: rebias the exponent (127 -> 15) and round the 13 dropped bits.
    const uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }
  // Subnormal half: value = m * 2^-24 with m = round(|f| * 2^24).
  const uint32_t e = a >> 23;
  if (e < 102) return sign;  // below 2^-25: rounds to zero
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e;  // 14..24
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // q may carry into the smallest normal
  return static_cast<uint16_t>(sign | q);
}

static inline SHORTGPT_HD float bf16_to_fp32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

static inline SHORTGPT_HD uint16_t fp32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 64u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// The value llama.cpp's F16 KV cache holds for f.
static inline SHORTGPT_HD float round_to_fp16(float f) { return fp16_to_fp32(fp32_to_fp16(f)); }
static inline SHORTGPT_HD float round_to_bf16(float f) { return bf16_to_fp32(fp32_to_bf16(f)); }

}  // namespace shortgpt::cpu
