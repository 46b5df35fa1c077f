// Scalar reference dot products, one per weight format, `vec_dot_<w>_<act>`
// as in ggml: a weight row (raw blocks from the file) times one converted
// activation row (act_view.h). Integer sums per block, scaled in float the way
// llama.cpp's generic C code does. These define "correct" for the SIMD
// kernels, and run the whole matmul when SHORTGPT_SIMD=scalar.
#pragma once

#include <cstdint>

#include "cpu/act_view.h"
#include "cpu/quant_blocks.h"

namespace shortgpt::cpu {

// One activation row of an ActView.
struct ActRowRef {
  const int8_t* qs;
  const float* d;
  const float* corr;
  const int16_t* bsums;
  const float* f;
};

ActRowRef act_row(const ActView& a, int64_t row);

// n = elements in the row (a multiple of the weight's block size).
float vec_dot_f32_f32(const float* w, const ActRowRef& x, int64_t n);
float vec_dot_f16_f16(const uint16_t* w, const ActRowRef& x, int64_t n);
float vec_dot_bf16_bf16(const uint16_t* w, const ActRowRef& x, int64_t n);
float vec_dot_q4_0_q8_0(const BlockQ4_0* w, const ActRowRef& x, int64_t n);
float vec_dot_q4_1_q8_1(const BlockQ4_1* w, const ActRowRef& x, int64_t n);
float vec_dot_q5_0_q8_0(const BlockQ5_0* w, const ActRowRef& x, int64_t n);
float vec_dot_q5_1_q8_1(const BlockQ5_1* w, const ActRowRef& x, int64_t n);
float vec_dot_q8_0_q8_0(const BlockQ8_0* w, const ActRowRef& x, int64_t n);
float vec_dot_iq4_nl_q8_0(const BlockIQ4_NL* w, const ActRowRef& x, int64_t n);
float vec_dot_q2_K_q8_K(const BlockQ2_K* w, const ActRowRef& x, int64_t n);
float vec_dot_q3_K_q8_K(const BlockQ3_K* w, const ActRowRef& x, int64_t n);
float vec_dot_q4_K_q8_K(const BlockQ4_K* w, const ActRowRef& x, int64_t n);
float vec_dot_q5_K_q8_K(const BlockQ5_K* w, const ActRowRef& x, int64_t n);
float vec_dot_q6_K_q8_K(const BlockQ6_K* w, const ActRowRef& x, int64_t n);
float vec_dot_iq4_xs_q8_K(const BlockIQ4_XS* w, const ActRowRef& x, int64_t n);

// Dispatch on the ggml type id (the type must be supported; the ActView must be
// in that type's activation format).
using VecDotFn = float (*)(const void* w, const ActRowRef& x, int64_t n);
VecDotFn vec_dot_for(int32_t type);

}  // namespace shortgpt::cpu
