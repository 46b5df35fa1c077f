// The weight panel of the SIMD matmul: how a tile of weight rows is laid out
// after unpacking (unpack_x86.h) for the micro-kernels (gemm_generic.inl).
//
// A micro-panel holds MR weight rows for one K chunk of kc elements:
//   Float   f32 values           [kc/16][MR][16]
//   Bf16Pairs bf16 values        [kc/32][MR][32]
//   Q32*    codes (1 byte each)  [kc/64][MR][64], d per 32-block [kc/64][MR][2]
//   K*      codes                [kc/64][MR][64], an i16 scale per code pair
//           [kc/64][MR][32], d per super-block [kc/256][MR]
//   plus, for formats with an offset or min, correction weights cw [MR][ncw]
//   (one per 32-block, or per 16 for K-quants) that multiply the
//   activation's per-block sums.
// So a micro-kernel walks its panel linearly, MR rows x 64 bytes per step.
//
// Everything is in an anonymous namespace: this header is compiled into each
// ISA file separately and must not produce shared (linker-merged) symbols.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/act_view.h"

namespace shortgpt::cpu {
namespace {

enum class Kind {
  Float,      // F32, F16, BF16 widened to f32
  Bf16Pairs,  // BF16 kept as bf16 pairs (AVX512-BF16)
  Q32U,       // 32-blocks with u8 codes and an offset or min: Q4_0 Q4_1 Q5_0 Q5_1
  Q32S,       // 32-blocks with int8 values: Q8_0 IQ4_NL
  KU,         // 256 super-blocks with u8 codes: Q2_K Q3_K Q4_K Q5_K Q6_K
  KS,         // 256 super-blocks with int8 values: IQ4_XS
};

struct Format {
  Kind kind;
  int64_t block;  // elements per block of the stored format
  int64_t kc;     // K chunk: a multiple of 512, so correction arrays stay 16-aligned
};

constexpr int64_t kChunk = 64;  // bytes per panel row step: one AVX-512 vector, two AVX2 vectors

// Register tiles (MR weight rows x NR activation rows), chosen by measurement
// (scripts/bench/kernels.mjs); MR must divide kTile.
#ifndef SHORTGPT_TUNE
constexpr int kMrQ = 4, kNrQ = 2;  // 32-block formats
constexpr int kMrK = 4, kNrK = 2;  // K-quants
constexpr int kMrF = 4, kNrF = 3;  // float weights
#else
constexpr int kMrQ = TMRQ, kNrQ = TNRQ, kMrK = TMRK, kNrK = TNRK, kMrF = TMRF, kNrF = TNRF;
#endif
constexpr int64_t kTile = 32;      // weight rows per task

inline Format format_of(int32_t type, bool bf16_pairs) {
  switch (type) {
    case 0:                                                   // F32
    case 1: return {Kind::Float, 1, 512};                     // F16
    case 30: return {bf16_pairs ? Kind::Bf16Pairs : Kind::Float, 1, 512};  // BF16
    case 2: case 3: case 6: case 7: return {Kind::Q32U, 32, 8192};        // Q4_0 Q4_1 Q5_0 Q5_1
    case 8: case 20: return {Kind::Q32S, 32, 8192};                        // Q8_0 IQ4_NL
    case 10: case 11: case 12: case 13: case 14: return {Kind::KU, 256, 2048};  // Q2_K..Q6_K
    default: return {Kind::KS, 256, 2048};                                 // IQ4_XS
  }
}

inline int mr_of(Kind k) {
  switch (k) {
    case Kind::Q32U: case Kind::Q32S: return kMrQ;
    case Kind::KU: case Kind::KS: return kMrK;
    default: return kMrF;
  }
}

// Formats whose value has an offset or a min: they carry correction weights.
inline bool has_corr(int32_t type) {
  switch (type) {
    case 2: case 3: case 6: case 7:                            // Q4_0 Q4_1 Q5_0 Q5_1
    case 10: case 11: case 12: case 13: case 14: return true;  // Q2_K..Q6_K
    default: return false;
  }
}

struct PanelLayout {
  int mr = 0;
  int64_t kc = 0;
  int64_t ncw = 0;  // correction floats per row (0 if none)
  size_t s_off = 0, d_off = 0, c_off = 0, bytes = 0;
};

inline size_t align64(size_t v) { return (v + 63) / 64 * 64; }

inline PanelLayout panel_layout(Kind kind, int64_t kc, bool corr) {
  PanelLayout p;
  p.mr = mr_of(kind);
  p.kc = kc;
  const size_t mr = static_cast<size_t>(p.mr), k = static_cast<size_t>(kc);
  size_t off = 0;
  switch (kind) {
    case Kind::Float: off = mr * k * sizeof(float); break;
    case Kind::Bf16Pairs: off = mr * k * sizeof(uint16_t); break;
    case Kind::Q32U:
    case Kind::Q32S:
      off = align64(mr * k);
      p.d_off = off;
      off += align64(mr * (k / 32) * sizeof(float));
      if (corr) {
        p.ncw = round_up(kc / 32, 16);
        p.c_off = off;
        off += align64(mr * static_cast<size_t>(p.ncw) * sizeof(float));
      }
      break;
    case Kind::KU:
    case Kind::KS:
      off = align64(mr * k);
      p.s_off = off;
      off += align64(mr * k);  // 32 i16 per 64 codes
      p.d_off = off;
      off += align64(mr * (k / 256) * sizeof(float));
      if (corr) {
        p.ncw = kc / 16;
        p.c_off = off;
        off += align64(mr * static_cast<size_t>(p.ncw) * sizeof(float));
      }
      break;
  }
  p.bytes = align64(off);
  return p;
}

struct PanelPtrs {
  uint8_t* q;  // codes (or f32 / bf16 values for the float kinds)
  int16_t* s;  // K kinds: i16 scale per code pair
  float* d;    // block or super-block scales
  float* c;    // correction weights, [MR][ncw]
};

inline PanelPtrs panel_ptrs(uint8_t* base, const PanelLayout& p) {
  return {base, reinterpret_cast<int16_t*>(base + p.s_off), reinterpret_cast<float*>(base + p.d_off),
          reinterpret_cast<float*>(base + p.c_off)};
}

}  // namespace
}  // namespace shortgpt::cpu
