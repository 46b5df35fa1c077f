#include "cpu/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "common/error.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define SHORTGPT_X86 1
#ifdef _MSC_VER
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace shortgpt {

namespace {

#ifdef SHORTGPT_X86
void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
#ifdef _MSC_VER
  int r[4];
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<uint32_t>(r[i]);
#else
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

uint64_t xgetbv0() {
#ifdef _MSC_VER
  return _xgetbv(0);
#else
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
#endif
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef SHORTGPT_X86
  uint32_t r[4];
  cpuid(0, 0, r);
  const uint32_t max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  f.fma = (r[2] >> 12) & 1;
  f.f16c = (r[2] >> 29) & 1;
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  cpuid(7, 0, r);
  const uint32_t ebx7 = r[1], ecx7 = r[2];
  f.avx2 = os_ymm && ((ebx7 >> 5) & 1) && f.fma && f.f16c;
  const bool avx512f = (ebx7 >> 16) & 1, avx512dq = (ebx7 >> 17) & 1;
  const bool avx512bw = (ebx7 >> 30) & 1, avx512vl = (ebx7 >> 31) & 1;
  f.avx512 = f.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
  f.avx512_vnni = f.avx512 && ((ecx7 >> 11) & 1);
  cpuid(7, 1, r);
  f.avx512_bf16 = f.avx512 && ((r[0] >> 5) & 1);
  f.best = f.avx512 ? SimdLevel::Avx512 : f.avx2 ? SimdLevel::Avx2 : SimdLevel::Scalar;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();  // thread-safe static init
  return features;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2: return "avx2";
    default: return "scalar";
  }
}

// The build defines SHORTGPT_HAVE_X86_SIMD when it compiled the avx2/avx512
// source groups (x86-64 only): without them only the scalar kernels exist.
bool simd_level_compiled(SimdLevel level) {
#ifdef SHORTGPT_HAVE_X86_SIMD
  (void)level;
  return true;
#else
  return level == SimdLevel::Scalar;
#endif
}

SimdLevel active_simd_level() {
  const CpuFeatures& f = cpu_features();
  SimdLevel best = simd_level_compiled(f.best) ? f.best : SimdLevel::Scalar;
  const char* forced = std::getenv("SHORTGPT_SIMD");
  if (!forced || !*forced) return best;
  SimdLevel want;
  if (std::strcmp(forced, "scalar") == 0) want = SimdLevel::Scalar;
  else if (std::strcmp(forced, "avx2") == 0) want = SimdLevel::Avx2;
  else if (std::strcmp(forced, "avx512") == 0) want = SimdLevel::Avx512;
  else
    throw NativeError("ERR_UNSUPPORTED_SIMD", std::string("SHORTGPT_SIMD='") + forced +
                                                  "' is not one of scalar, avx2, avx512");
  if (static_cast<int>(want) > static_cast<int>(best)) {
    throw NativeError("ERR_UNSUPPORTED_SIMD", std::string("SHORTGPT_SIMD=") + forced +
                                                  " but this CPU/build supports at most " +
                                                  simd_level_name(best));
  }
  return want;
}

}  // namespace shortgpt
