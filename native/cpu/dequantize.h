// Scalar dequantization, one function per format (the formulas themselves live
// in block_values.h, shared with the CUDA kernels): the reference every other
// path is checked against, and what the engine uses for embedding lookups.
// The float operations are written in the same order as ggml's
// dequantize_row_* (and gguf-py's dequantize), so results are bit-identical.
#pragma once

#include <cstdint>

#include "cpu/quant_blocks.h"

namespace shortgpt::cpu {

// n is the number of output elements, a multiple of the block size.
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n);
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n);
void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n);
void dequantize_row_f16(const uint16_t* x, float* y, int64_t n);
void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n);
void dequantize_row_f32(const float* x, float* y, int64_t n);

// Any supported type. `src` holds n / block_elems blocks (2-byte aligned; the
// mapped file and the engine's buffers are). Throws ERR_UNSUPPORTED_TYPE for
// other types and ERR_INVALID_ARG when n is not a whole number of blocks.
void dequantize_row(int32_t type, const void* src, float* dst, int64_t n);

}  // namespace shortgpt::cpu
