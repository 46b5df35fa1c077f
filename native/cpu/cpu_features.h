// What the CPU we run on can do, read once from CPUID, so one binary runs on
// any x86-64 and picks its fastest kernels at run time. SHORTGPT_SIMD=
// scalar|avx2|avx512 forces a lower path (for tests and bug reports).
#pragma once

#include <string>

namespace shortgpt {

enum class SimdLevel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

struct CpuFeatures {
  bool avx2 = false;     // with FMA and F16C: the Avx2 level needs all three
  bool fma = false;
  bool f16c = false;
  bool avx512 = false;   // F + BW + VL + DQ, with the OS saving ZMM state
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  SimdLevel best = SimdLevel::Scalar;  // highest level the CPU supports
};

// Detected once per process; immutable afterwards, so shared safely.
const CpuFeatures& cpu_features();

// The level kernels should use: the best one, lowered by SHORTGPT_SIMD when set.
// Throws NativeError ERR_UNSUPPORTED_SIMD if SHORTGPT_SIMD asks for a level the CPU lacks
// or is not one of the names above.
SimdLevel active_simd_level();

const char* simd_level_name(SimdLevel level);

// Level compiled into this binary (the AVX paths are absent on non-x86 builds).
bool simd_level_compiled(SimdLevel level);

}  // namespace shortgpt
