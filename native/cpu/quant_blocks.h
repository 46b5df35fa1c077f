// The on-disk block layouts of the ggml formats we read (ggml-common.h), one
// struct per format, plus the activation blocks llama.cpp quantizes the
// matmul input into. Weights are read straight from the mapped file through
// these structs, so each size is pinned by a static_assert: a wrong layout
// would read garbage silently. Half-precision fields are raw uint16_t bits
// (see fp16.h). Facts: ../shared/docs/llama-cpp-facts.md §2.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace shortgpt::cpu {

constexpr int kQK32 = 32;   // elements per block of the Q4_0..Q8_1 and IQ4_NL formats
constexpr int kQKK = 256;   // elements per super-block of the K-quants and IQ4_XS
constexpr int kKScaleBytes = 12;  // packed 6-bit scales and mins of Q4_K / Q5_K

// y = d * (q - 8), q in 0..15; element j in the low nibble of qs[j], j+16 in the high one.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "block_q4_0 is 18 bytes");

// y = d * q + m, q in 0..15.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20, "block_q4_1 is 20 bytes");

// y = d * (q - 16), q in 0..31; bit 4 of element j is bit j of qh (a LE u32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ5_0) == 22, "block_q5_0 is 22 bytes");

// y = d * q + m, q in 0..31.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockQ5_1) == 24, "block_q5_1 is 24 bytes");

// y = d * q, q in -128..127 (weights) or -127..127 (activations).
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK32];
};
static_assert(sizeof(BlockQ8_0) == 34, "block_q8_0 is 34 bytes");

// Q8_0 plus s = d * sum(qs) (fp16): the activation side of Q4_1 / Q5_1.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK32];
};
static_assert(sizeof(BlockQ8_1) == 36, "block_q8_1 is 36 bytes");

// 16 sub-blocks of 16: y = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3.
// d and dmin come last.
struct BlockQ2_K {
  uint8_t scales[kQKK / 16];
  uint8_t qs[kQKK / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84, "block_q2_K is 84 bytes");

// 16 sub-blocks of 16 with signed 6-bit scales: y = d * (s - 32) * (q2 - (hbit ? 0 : 4)).
struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];
  uint8_t qs[kQKK / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "block_q3_K is 110 bytes");

// 8 sub-blocks of 32 with 6-bit scale and min: y = d * sc * q - dmin * m, q in 0..15.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "block_q4_K is 144 bytes");

// Q4_K plus a fifth bit per element in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ5_K) == 176, "block_q5_K is 176 bytes");

// 16 sub-blocks of 16 with int8 scales: y = d * sc * (q - 32), q in 0..63.
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "block_q6_K is 210 bytes");

// Activation side of the K-quants and IQ4_XS: float scale, and the sum of
// every 16 quants so min terms cost one multiply per sub-block.
struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};
static_assert(sizeof(BlockQ8_K) == 292, "block_q8_K is 292 bytes");

// y = d * kIq4nlValues[nibble], nibbles laid out as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK32 / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "block_iq4_nl is 18 bytes");

// 8 sub-blocks of 32, 6-bit scales split into scales_l (4 bits) and scales_h (2 bits):
// y = d * (ls - 32) * kIq4nlValues[nibble].
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQKK / 64];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136, "block_iq4_xs is 136 bytes");

// The non-linear 4-bit grid of IQ4_NL / IQ4_XS (kvalues_iq4nl), as a table
// for the SIMD shuffles.
static constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// The same grid as a function the GPU can call too (device code cannot read a
// host constexpr array): the 16 values packed little-endian into two words.
static constexpr SHORTGPT_HD int iq4nl_value(int nibble) {
  constexpr uint64_t kLow = 0xF6EADDCFBFAD9881ull;   // -127 .. -10
  constexpr uint64_t kHigh = 0x7159453526190D01ull;  // 1 .. 113
  const uint64_t word = nibble < 8 ? kLow : kHigh;
  return static_cast<int8_t>(static_cast<uint8_t>(word >> (8 * (nibble & 7))));
}

static constexpr bool iq4nl_value_matches_table() {
  for (int i = 0; i < 16; ++i) {
    if (iq4nl_value(i) != kIq4nlValues[i]) return false;
  }
  return true;
}
static_assert(iq4nl_value_matches_table(), "iq4nl_value packs kIq4nlValues");

// Q4_K / Q5_K: unpacks the 6-bit scale and min of sub-block j (0..7).
static inline SHORTGPT_HD void k4_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q3_K: the signed scale (-32..31) of sub-block j (0..15).
static inline SHORTGPT_HD int q3k_scale(const uint8_t* s, int j) {
  const int low = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// IQ4_XS: the signed scale (-32..31) of sub-block j (0..7).
static inline SHORTGPT_HD int iq4xs_scale(const BlockIQ4_XS& b, int j) {
  const int low = (b.scales_l[j / 2] >> (4 * (j % 2))) & 15;
  const int high = (b.scales_h >> (2 * j)) & 3;
  return (low | (high << 4)) - 32;
}

}  // namespace shortgpt::cpu
