// The matmul input after conversion to the weight's activation format
// (weight_types.h): T rows of n values, stored structure-of-arrays
// (act_view.h) so SIMD kernels load quants and scales with aligned vector
// loads, while holding exactly the values llama.cpp's block_q8_0 / q8_1 /
// q8_K would hold.
//
// Quantization follows llama.cpp's x86 CPU path (ggml-cpu/arch/x86/quants.c):
//   Q8_0/Q8_1: per 32, amax = max|x|, d = amax/127 (stored as fp16),
//              q = round_half_even(x * (127/amax)); Q8_1 also s = fp16(d * sum(q))
//              with the unrounded d.
//   Q8_K:      per 256, max = the value of largest magnitude (first one on ties),
//              iscale = -127/max, q = min(127, round_half_even(iscale * x)),
//              d = 1/iscale (float), bsums = sums of 16 quants.
//   F16/BF16:  round to nearest even; F32: copied.
#pragma once

#include <cstdint>
#include <memory>

#include "cpu/act_view.h"
#include "cpu/quant_blocks.h"

namespace shortgpt::cpu {

// Owns the storage behind an ActView.
class ActRows {
 public:
  // Sizes the arrays for `rows` rows of `n` values, all zero. Reuses storage
  // when it is big enough.
  void allocate(ActFormat fmt, int64_t rows, int64_t n);
  const ActView& view() const { return view_; }
  ActView& view() { return view_; }

 private:
  ActView view_;
  std::unique_ptr<uint8_t[]> storage_;
  size_t capacity_ = 0;
};

// Scalar reference conversion of one row into row `row` of `out` (the SIMD
// versions produce identical bits).
void convert_act_row_scalar(const float* x, const ActView& out, int64_t row);

// The same quantizers writing llama.cpp's own block structs (tests, docs).
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n);
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n);

}  // namespace shortgpt::cpu
