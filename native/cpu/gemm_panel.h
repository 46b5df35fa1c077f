// The weight panel of the SIMD matmul: how a tile of weight rows is laid out
// after unpacking (unpack_x86.h) for the micro-kernels (gemm_generic.inl).
//
// Integer formats (Q32*, K*) are row-interleaved: a group of G weight rows
// (G = vector bytes / 4: 8 for AVX2, 16 for AVX-512) stores, for every 4
// consecutive codes ("a step"), the 4 codes of row 0, then of row 1, ... so one
// vector holds one step of G rows. A kernel multiplies it with 4 activation
// values broadcast to every lane: each 32-bit lane accumulates one weight
// row's dot product, so the per-block float work (scale, convert,
// multiply-add) is shared by G rows instead of repeated per row.
//   codes   [kc/4 steps][G][4]       one byte per weight (u8 with an offset, or int8)
//   Q32*:   d [kc/32][G] floats      per 32-block scale
//   K*:     scales [kc/16][G][2] i16 per 16-code sub-block, twice: the madd operand
//           d [kc/256][G] floats     per super-block scale
//   cw      [kc/32 or kc/16][G]      correction weights of formats with an offset
//           or min, multiplying the activation's per-block sums
// No array has padding the kernels read: unpack_panel (gemm_generic.inl) skips
// clearing a full panel, and the panel memory holds whatever the previous
// matmul left (an earlier layout padded cw to 16 entries per row, and a kept
// MatmulScratch fed a Q5_0 matmul the bytes of a Q6_K panel as NaN).
// Float formats keep MR rows side by side for dot-product kernels:
//   Float   f32 values [kc/16][MR][16];  Bf16Pairs bf16 values [kc/32][MR][32]
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
  // K chunk (values per row unpacked at a time): a group's panel (G rows x kc
  // bytes, plus scales) should stay in L1/L2 while the activation rows stream
  // past it; whole-row chunks also let small-T calls read each row once, in order.
  int64_t kc;
};

constexpr int64_t kChunk = 64;  // bytes per panel row step: one AVX-512 vector, two AVX2 vectors

// Register tiles, chosen by measurement (scripts/bench/kernels.mjs): integer
// kernels compute G rows x kNrInt activation rows; float kernels MR x NR.
constexpr int kMrF = 4, kNrF = 3;  // float weights
constexpr int64_t kTile = 32;      // weight rows per task: a multiple of G and MR

inline Format format_of(int32_t type, bool bf16_pairs) {
  switch (type) {
    case 0:                                                   // F32
    case 1: return {Kind::Float, 1, 512};                     // F16
    case 30: return {bf16_pairs ? Kind::Bf16Pairs : Kind::Float, 1, 512};  // BF16
    case 2: case 3: case 6: case 7: return {Kind::Q32U, 32, 4096};        // Q4_0 Q4_1 Q5_0 Q5_1
    case 8: case 20: return {Kind::Q32S, 32, 4096};                        // Q8_0 IQ4_NL
    case 10: case 11: case 12: case 13: case 14: return {Kind::KU, 256, 2048};  // Q2_K..Q6_K
    default: return {Kind::KS, 256, 2048};                                 // IQ4_XS
  }
}

inline bool is_integer(Kind k) { return k != Kind::Float && k != Kind::Bf16Pairs; }

// Formats whose value has an offset or a min: they carry correction weights.
inline bool has_corr(int32_t type) {
  switch (type) {
    case 2: case 3: case 6: case 7:                            // Q4_0 Q4_1 Q5_0 Q5_1
    case 10: case 11: case 12: case 13: case 14: return true;  // Q2_K..Q6_K
    default: return false;
  }
}

struct PanelLayout {
  int mr = 0;        // rows per micro-panel: G for integer kinds, kMrF for float kinds
  int64_t kc = 0;
  int64_t ncw = 0;   // correction entries per row (0 if none)
  size_t s_off = 0, d_off = 0, c_off = 0, bytes = 0;
};

inline size_t align64(size_t v) { return (v + 63) / 64 * 64; }

// `group`: rows per interleaved group (vector bytes / 4).
inline PanelLayout panel_layout(Kind kind, int64_t kc, bool corr, int group) {
  PanelLayout p;
  p.mr = is_integer(kind) ? group : kMrF;
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
        p.ncw = kc / 32;
        p.c_off = off;
        off += align64(mr * static_cast<size_t>(p.ncw) * sizeof(float));
      }
      break;
    case Kind::KU:
    case Kind::KS:
      off = align64(mr * k);
      p.s_off = off;
      off += align64(mr * (k / 16) * 2 * sizeof(int16_t));
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
  int16_t* s;  // K kinds: i16 scale pairs per sub-block and row
  float* d;    // block or super-block scales, [block][G]
  float* c;    // correction weights, [entry][G]
};

inline PanelPtrs panel_ptrs(uint8_t* base, const PanelLayout& p) {
  return {base, reinterpret_cast<int16_t*>(base + p.s_off), reinterpret_cast<float*>(base + p.d_off),
          reinterpret_cast<float*>(base + p.c_off)};
}

}  // namespace
}  // namespace shortgpt::cpu
