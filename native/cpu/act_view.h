// The layout of converted matmul inputs (activations.h) as a plain struct of
// pointers: what the SIMD translation units see. It owns nothing, so ISA
// files never instantiate library templates that the portable code shares.
#pragma once

#include <cstdint>

#include "cpu/weight_types.h"

namespace shortgpt::cpu {

// Rows are zero-padded to a multiple of this many values: one step of the
// widest kernels (64 int8 quants, or 2 blocks of 32).
constexpr int64_t kActRowAlign = 64;

static constexpr int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

struct ActView {
  ActFormat format = ActFormat::F32;
  int64_t rows = 0;
  int64_t n = 0;      // logical row length
  int64_t n_pad = 0;  // stored row length, multiple of kActRowAlign

  // Integer formats.
  int8_t* qs = nullptr;  // [rows][n_pad]
  float* d = nullptr;    // [rows][d_stride]: scale per 32 (Q8_0, Q8_1; fp16-rounded) or per 256 (Q8_K)
  int64_t d_stride = 0;
  // Per-block terms for weight offsets and mins, zero-padded to a multiple of 16:
  // Q8_0: d*sum(q) per 32; Q8_1: s (fp16-rounded, as llama.cpp stores it) per 32;
  // Q8_K: d*bsum per 16.
  float* corr = nullptr;
  int64_t corr_stride = 0;
  int16_t* bsums = nullptr;  // Q8_K: [rows][n_pad/16]
  int64_t bsums_stride = 0;

  // Float formats: the values after rounding to the activation type.
  float* f = nullptr;     // [rows][n_pad]
  uint16_t* h = nullptr;  // BF16 only: the bf16 bits, [rows][n_pad]
};

}  // namespace shortgpt::cpu
