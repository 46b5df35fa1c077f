// `d * q + m` must stay two roundings (as in ggml and gguf-py), not one fused
// multiply-add: clang contracts by default on targets with FMA (arm64). Before
// the includes, so the shared formulas in block_values.h are covered too.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "cpu/dequantize.h"

#include <cstring>

#include "common/ggml_type.h"
#include "cpu/block_values.h"
#include "cpu/fp16.h"
#include "cpu/weight_types.h"

namespace shortgpt::cpu {

namespace {

// Every element of every block through the shared formula (block_values.h),
// the one the CUDA kernels run too.
template <class Block, int kElems>
void dequantize_blocks(const Block* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n / kElems; ++i, y += kElems) {
    for (int j = 0; j < kElems; ++j) y[j] = block_value(x[i], j);
  }
}

}  // namespace

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) { dequantize_blocks<BlockQ4_0, kQK32>(x, y, n); }
void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n) { dequantize_blocks<BlockQ4_1, kQK32>(x, y, n); }
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n) { dequantize_blocks<BlockQ5_0, kQK32>(x, y, n); }
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n) { dequantize_blocks<BlockQ5_1, kQK32>(x, y, n); }
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) { dequantize_blocks<BlockQ8_0, kQK32>(x, y, n); }
void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n) { dequantize_blocks<BlockQ2_K, kQKK>(x, y, n); }
void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n) { dequantize_blocks<BlockQ3_K, kQKK>(x, y, n); }
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n) { dequantize_blocks<BlockQ4_K, kQKK>(x, y, n); }
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n) { dequantize_blocks<BlockQ5_K, kQKK>(x, y, n); }
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n) { dequantize_blocks<BlockQ6_K, kQKK>(x, y, n); }
void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n) { dequantize_blocks<BlockIQ4_NL, kQK32>(x, y, n); }
void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n) { dequantize_blocks<BlockIQ4_XS, kQKK>(x, y, n); }

void dequantize_row_f16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void dequantize_row_bf16(const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

void dequantize_row_f32(const float* x, float* y, int64_t n) {
  std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}

void dequantize_row(int32_t type, const void* src, float* dst, int64_t n) {
  weight_row_bytes(type, n);  // validates the type and n
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: return dequantize_row_f32(static_cast<const float*>(src), dst, n);
    case GgmlType::F16: return dequantize_row_f16(static_cast<const uint16_t*>(src), dst, n);
    case GgmlType::BF16: return dequantize_row_bf16(static_cast<const uint16_t*>(src), dst, n);
    case GgmlType::Q4_0: return dequantize_row_q4_0(static_cast<const BlockQ4_0*>(src), dst, n);
    case GgmlType::Q4_1: return dequantize_row_q4_1(static_cast<const BlockQ4_1*>(src), dst, n);
    case GgmlType::Q5_0: return dequantize_row_q5_0(static_cast<const BlockQ5_0*>(src), dst, n);
    case GgmlType::Q5_1: return dequantize_row_q5_1(static_cast<const BlockQ5_1*>(src), dst, n);
    case GgmlType::Q8_0: return dequantize_row_q8_0(static_cast<const BlockQ8_0*>(src), dst, n);
    case GgmlType::Q2_K: return dequantize_row_q2_K(static_cast<const BlockQ2_K*>(src), dst, n);
    case GgmlType::Q3_K: return dequantize_row_q3_K(static_cast<const BlockQ3_K*>(src), dst, n);
    case GgmlType::Q4_K: return dequantize_row_q4_K(static_cast<const BlockQ4_K*>(src), dst, n);
    case GgmlType::Q5_K: return dequantize_row_q5_K(static_cast<const BlockQ5_K*>(src), dst, n);
    case GgmlType::Q6_K: return dequantize_row_q6_K(static_cast<const BlockQ6_K*>(src), dst, n);
    case GgmlType::IQ4_NL: return dequantize_row_iq4_nl(static_cast<const BlockIQ4_NL*>(src), dst, n);
    case GgmlType::IQ4_XS: return dequantize_row_iq4_xs(static_cast<const BlockIQ4_XS*>(src), dst, n);
    default: break;
  }
  activation_format(type);  // throws ERR_UNSUPPORTED_TYPE
}

}  // namespace shortgpt::cpu
