// The SIMD versions of the ops in ops.h, one table per instruction set, as
// plain function pointers (see gemm_isa.h for why nothing richer crosses
// into the ISA files). ops.cc picks a table by SimdLevel.
#pragma once

#include <cstdint>

namespace shortgpt::cpu {

struct OpsIsa {
  void (*rmsnorm)(float* y, const float* x, const float* w, int64_t n, float eps);
  void (*softmax)(float* y, const float* x, int64_t n, float scale, const float* mask);
  void (*silu)(float* y, const float* x, int64_t n);
  void (*swiglu)(float* y, const float* gate, const float* up, int64_t n);
  void (*f32_to_f16)(uint16_t* y, const float* x, int64_t n);
  void (*f16_to_f32)(float* y, const uint16_t* x, int64_t n);
  void (*round_f16)(float* y, const float* x, int64_t n);
  // Runs `iters` rounds of independent FMA chains (for the peak-FLOP/s probe);
  // returns the floating-point operations done. `sink` defeats dead-code removal.
  double (*fma_burn)(int64_t iters, float* sink);
};

// Present when the build compiled the x86 SIMD files (SHORTGPT_HAVE_X86_SIMD).
namespace avx2 {
const OpsIsa& ops_isa();
}
namespace avx512 {
const OpsIsa& ops_isa();
}

}  // namespace shortgpt::cpu
