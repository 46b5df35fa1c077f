// The AVX-512 matmul: the kernels of gemm_generic.inl over 512-bit vectors
// (one 64-byte panel step = two 32-blocks per instruction). Compiled with
// -mavx512f/bw/vl/dq plus -mavx512vnni/-mavx512bf16, called only after
// cpu_features() reported AVX-512 F+BW+VL+DQ. VNNI (vpdpbusd) and the BF16 pair
// dot product (vdpbf16ps) are separate instantiations chosen from CPUID at run
// time, so a Skylake-X without them never executes either.
//
// Not exercised on the development machine (no AVX-512 there): the code is
// the AVX2 algorithm with each traits operation mapped one-to-one; the
// differences are the group of 16 rows per vector (unpacked as two AVX2
// halves), sign_i8 (AVX-512 has no vpsignb: a masked subtract) and the
// VNNI/BF16 dot products.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "cpu/cpu_features.h"
#include "cpu/fp16.h"
#include "cpu/gemm_isa.h"
#include "cpu/quant_blocks.h"
#include "cpu/quant_decode.h"
#include "cpu/unpack_x86.h"

// GCC 12's AVX-512 headers build "undefined" pass-through vectors as
// `__m512 __Y = __Y;`, which -Wmaybe-uninitialized reports wherever the
// intrinsic is inlined (and -Wuninitialized for the reduce helpers; fixed in
// later GCCs). The values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace shortgpt::cpu::avx512 {

namespace {

struct Isa512 {
  static constexpr int kVecBytes = 64;
  static constexpr int kFloats = 16;
  static constexpr int kNrInt = 8;  // activation rows per integer micro-kernel (32 registers)
  using I = __m512i;
  using F = __m512;

  static I loadi(const void* p) { return _mm512_loadu_si512(p); }
  static F loadf(const float* p) { return _mm512_loadu_ps(p); }
  static void storef(float* p, F v) { _mm512_storeu_ps(p, v); }
  static I zeroi() { return _mm512_setzero_si512(); }
  static F zerof() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static I set1_i16(int16_t v) { return _mm512_set1_epi16(v); }
  static I bcast4(const int8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }
  static I maddubs(I u, I s) { return _mm512_maddubs_epi16(u, s); }
  static I add_i16(I a, I b) { return _mm512_add_epi16(a, b); }
  static I madd(I a, I b) { return _mm512_madd_epi16(a, b); }
  static I abs_i8(I w) { return _mm512_abs_epi8(w); }
  // x * sign(w) where w < 0; where w == 0 x is kept, but |w| = 0 zeroes the product anyway.
  static I sign_i8(I x, I w) { return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x); }
  static I addi(I a, I b) { return _mm512_add_epi32(a, b); }
  static F cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static float hsum(F v) {
    const __m256 s8 = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static bool bf16_pairs() { return cpu_features().avx512_bf16; }
  // acc[i] += w[2i] * x[2i] + w[2i+1] * x[2i+1] over 32 bf16 pairs.
  static F dot_bf16_pairs(F acc, I w, I x) {
    return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh&>(w), reinterpret_cast<__m512bh&>(x));
  }
};

}  // namespace

namespace plain {
namespace {
struct Isa : Isa512 {
  static constexpr bool kVnni = false;
  static I dpbusd(I acc, I u, I s) { return addi(acc, madd(maddubs(u, s), set1_i16(1))); }
};
#define SHORTGPT_ISA_HAS_BF16_PAIRS 1
#include "cpu/gemm_generic.inl"
#undef SHORTGPT_ISA_HAS_BF16_PAIRS
}  // namespace
}  // namespace plain

namespace vnni {
namespace {
struct Isa : Isa512 {
  static constexpr bool kVnni = true;
  // u8 x s8, four products per 32-bit lane, accumulated without 16-bit saturation.
  static I dpbusd(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
};
#define SHORTGPT_ISA_HAS_BF16_PAIRS 1
#include "cpu/gemm_generic.inl"
#undef SHORTGPT_ISA_HAS_BF16_PAIRS
}  // namespace
}  // namespace vnni

const GemmIsa& gemm_isa() {
  // Activation conversion is a small share of the work; the AVX2 version is exact and shared.
  static const GemmIsa with_vnni{"avx512-vnni", avx2::convert_rows, vnni::task_count, vnni::scratch_bytes,
                                 vnni::run_task};
  static const GemmIsa without{"avx512", avx2::convert_rows, plain::task_count, plain::scratch_bytes,
                               plain::run_task};
  return cpu_features().avx512_vnni ? with_vnni : without;
}

}  // namespace shortgpt::cpu::avx512
