// Marks functions that are compiled for the host and, in the CUDA build, for
// the GPU too: the block layouts and dequantization formulas (cpu/quant_blocks.h,
// cpu/block_values.h, cpu/fp16.h) exist once and both sides run them.
//
// mul_rn / add_rn / sub_rn: one IEEE rounding each, never fused into a
// multiply-add. nvcc contracts a * b + c into an FMA by default, which would
// change the last bit of d * q + m against ggml, gguf-py and the CPU path;
// the __f*_rn intrinsics are never contracted. On the host the files that use
// them turn contraction off (dequantize.cc) and are built without FMA flags.
#pragma once

#if defined(__CUDACC__)
#define SHORTGPT_HD __host__ __device__
#else
#define SHORTGPT_HD
#endif

namespace shortgpt {

SHORTGPT_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

SHORTGPT_HD inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

SHORTGPT_HD inline float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

}  // namespace shortgpt
