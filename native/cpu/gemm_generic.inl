// The SIMD matmul, written once over an instruction-set traits class `Isa`
// and compiled by gemm_avx2.cc and gemm_avx512.cc (each inside its own
// namespace, with its own -m flags). Not a header: include it only there,
// after defining `Isa` (see gemm_avx2.cc for the operations it must provide).
//
// How it works. A task owns a tile of weight rows and a chunk of activation
// rows. For each K chunk it first unpacks the tile's weights into a panel
// (gemm_panel.h, unpack_x86.h), one byte per weight with scales beside them.
// Unpacking is one pass over the weights, reused by every activation row of
// the chunk; the micro-kernels then only multiply.
//
// Integer formats (row-interleaved panel): a vector holds 4 codes of each of
// G weight rows; 4 activation quants are broadcast to every lane, and
// u8 x s8 multiplies (maddubs) leave, per 32-bit lane, a sum for one weight
// row. Codes of 4 or 5 bits accumulate several steps in 16 bits before
// widening (no overflow: 8 x 15 x 127 x 2 < 2^15, 4 x 31 x 127 x 2 < 2^15);
// int8-valued formats use the sign trick (|w| times x with w's sign) and
// widen every step. Per block (32, or a K-quant's 256 super-block, whose
// 16-code sub-block scales enter as the i16 multiplier of the widening madd)
// the i32 lanes become float and take d_w * d_x in one multiply-add for all
// G rows. Offsets and mins are one more term per block, cw[b] * cx[b]: cw
// from the weights (-offset * d, m, or -dmin * min), cx from the activation
// (d * sum of its quants, or Q8_1's s).
//
// Float formats (F32, F16, BF16): MR rows side by side, widened to f32, and
// dot-product kernels (f32 FMAs, or AVX512-BF16 pair dot products) over
// MR x NR accumulators, reduced horizontally at the end.

namespace {

// Fills micro-panel `base` with rows [o, o + rows) (rows <= MR; the rest zero)
// for elements [k0, k0 + kc) of the weight (zero beyond n_in).
//
// A full panel is not cleared first, so the unpackers must write every byte
// the micro-kernels read (every array of gemm_panel.h is sized to exactly
// that): the scratch is a MatmulScratch the caller keeps across weights of
// other formats, and holds their panels. test/kernels-scratch.test.ts fills
// it with 0xff before every matmul and expects a fresh scratch's bits.
void unpack_panel(const GemmArgs& g, const Format& fmt, const PanelLayout& p, uint8_t* base, int64_t o, int rows,
                  int64_t k0) {
  const int64_t kc = p.kc;
  const int64_t k_avail = g.n_in - k0 < kc ? g.n_in - k0 : kc;  // real elements in this chunk
  const bool full = rows == p.mr && k_avail == kc;
  if (!full) std::memset(base, 0, p.bytes);
  auto row_ptr = [&](int r) { return g.w + static_cast<size_t>(o + r) * g.row_bytes; };
  if (fmt.kind == Kind::Float || fmt.kind == Kind::Bf16Pairs) {
    for (int r = 0; r < rows; ++r) {
      if (fmt.kind == Kind::Bf16Pairs) {
        x86::unpack_row_bf16_pairs(row_ptr(r), k0, k_avail, p, reinterpret_cast<uint16_t*>(base), r);
        continue;
      }
      float* f = reinterpret_cast<float*>(base);
      switch (g.type) {
        case 0: x86::unpack_row_float<0>(row_ptr(r), k0, k_avail, p, f, r); break;
        case 1: x86::unpack_row_float<1>(row_ptr(r), k0, k_avail, p, f, r); break;
        default: x86::unpack_row_float<30>(row_ptr(r), k0, k_avail, p, f, r); break;
      }
    }
    return;
  }
  const PanelPtrs ptrs = panel_ptrs(base, p);
  const int64_t b0 = k0 / fmt.block, nb = k_avail / fmt.block;
  for (int half = 0; half < p.mr / 8; ++half) {
    const uint8_t* r8[8];
    for (int r = 0; r < 8; ++r) r8[r] = 8 * half + r < rows ? row_ptr(8 * half + r) : nullptr;
    if (!r8[0]) break;
    constexpr int V = Isa::kVecBytes;
    switch (g.type) {
      case 2: x86::unpack8_q32<2>(r8, b0, nb, p, ptrs, half, V); break;
      case 3: x86::unpack8_q32<3>(r8, b0, nb, p, ptrs, half, V); break;
      case 6: x86::unpack8_q32<6>(r8, b0, nb, p, ptrs, half, V); break;
      case 7: x86::unpack8_q32<7>(r8, b0, nb, p, ptrs, half, V); break;
      case 8: x86::unpack8_q32<8>(r8, b0, nb, p, ptrs, half, V); break;
      case 20: x86::unpack8_q32<20>(r8, b0, nb, p, ptrs, half, V); break;
      case 10: x86::unpack8_k<10>(r8, b0, nb, p, ptrs, half, V); break;
      case 11: x86::unpack8_k<11>(r8, b0, nb, p, ptrs, half, V); break;
      case 12: x86::unpack8_k<12>(r8, b0, nb, p, ptrs, half, V); break;
      case 13: x86::unpack8_k<13>(r8, b0, nb, p, ptrs, half, V); break;
      case 14: x86::unpack8_k<14>(r8, b0, nb, p, ptrs, half, V); break;
      default: x86::unpack8_k<23>(r8, b0, nb, p, ptrs, half, V); break;
    }
  }
}

// ---------------------------------------------------------------------------
// Micro-kernels. Each computes out[j][r] = sum over this K chunk for MR
// weight rows (r) and NR activation rows (j) starting at activation row t,
// then stores (first chunk) or adds (later chunks) into y.

struct KernelOut {
  float* y;        // y + t * n_out + o (row r, activation j at y[j * ldy + r])
  int64_t ldy;
  int rows;        // valid weight rows (<= MR)
  bool accumulate;
};

template <int MR, int NR>
inline void store_out(const KernelOut& out, typename Isa::F (&acc)[MR][NR]) {
  for (int j = 0; j < NR; ++j) {
    float* y = out.y + j * out.ldy;
    for (int r = 0; r < MR; ++r) {
      if (r >= out.rows) break;
      const float v = Isa::hsum(acc[r][j]);
      y[r] = out.accumulate ? y[r] + v : v;
    }
  }
}

// Steps (of 4 codes) summed in 16 bits before widening, for each format.
constexpr int i16_steps(int32_t type) {
  switch (type) {
    case 2: case 3: return 8;                      // Q4_0, Q4_1: u <= 15
    case 6: case 7: return 4;                      // Q5_0, Q5_1: u <= 31
    case 10: case 11: case 12: case 13: return 4;  // Q2_K..Q5_K: u <= 31, a sub-block is 4 steps
    case 14: return 2;                             // Q6_K: u <= 63
    default: return 1;                             // int8 values (sign trick)
  }
}

// G weight rows (one row-interleaved group) x NR activation rows starting at t.
template <int NR, bool kSigned, bool kK, int kI16>
void kernel_int(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t, int64_t k0,
                const KernelOut& out) {
  using F = typename Isa::F;
  using I = typename Isa::I;
  constexpr int V = Isa::kVecBytes, G = V / 4;
  constexpr int kBlockSteps = kK ? 64 : 8;  // steps per float-scaled block (256 or 32 codes)
  constexpr int kSubSteps = kK ? 4 : 8;     // steps per integer scale (16 or 32 codes)
  constexpr int kCorrPerBlock = kK ? 16 : 1;
  const PanelPtrs w = panel_ptrs(const_cast<uint8_t*>(base), p);
  const int32_t* scales = reinterpret_cast<const int32_t*>(w.s);
  const int8_t* xq[NR];
  const float* xd[NR];
  const float* cx[NR];
  for (int j = 0; j < NR; ++j) {
    xq[j] = a.qs + (t + j) * a.n_pad + k0;
    xd[j] = a.d + (t + j) * a.d_stride + k0 / (4 * kBlockSteps);
    cx[j] = a.corr + (t + j) * a.corr_stride + k0 / (kK ? 16 : 32);
  }
  F acc[NR];
  for (int j = 0; j < NR; ++j) acc[j] = Isa::zerof();
  const I ones = Isa::set1_i16(1);
  const int64_t blocks = p.kc / (4 * kBlockSteps);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    I iacc[NR];
    for (int j = 0; j < NR; ++j) iacc[j] = Isa::zeroi();
    for (int sub = 0; sub < kBlockSteps / kSubSteps; ++sub) {
      const int64_t step0 = blk * kBlockSteps + sub * kSubSteps;
      if constexpr (!kK && Isa::kVnni) {
        // u8 x s8 dot products accumulate straight into 32 bits.
        for (int s = 0; s < kSubSteps; ++s) {
          const I wv = Isa::loadi(w.q + (step0 + s) * V);
          const I wa = kSigned ? Isa::abs_i8(wv) : wv;
          for (int j = 0; j < NR; ++j) {
            const I xb = Isa::bcast4(xq[j] + 4 * (step0 + s));
            iacc[j] = Isa::dpbusd(iacc[j], wa, kSigned ? Isa::sign_i8(xb, wv) : xb);
          }
        }
      } else {
        const I sv = kK ? Isa::loadi(scales + (blk * 16 + sub) * G) : ones;
        for (int c0 = 0; c0 < kSubSteps; c0 += kI16) {
          I s16[NR];
          for (int s = 0; s < kI16; ++s) {
            const int64_t step = step0 + c0 + s;
            const I wv = Isa::loadi(w.q + step * V);
            const I wa = kSigned ? Isa::abs_i8(wv) : wv;
            for (int j = 0; j < NR; ++j) {
              const I xb = Isa::bcast4(xq[j] + 4 * step);
              const I pr = Isa::maddubs(wa, kSigned ? Isa::sign_i8(xb, wv) : xb);
              s16[j] = s == 0 ? pr : Isa::add_i16(s16[j], pr);
            }
          }
          for (int j = 0; j < NR; ++j) iacc[j] = Isa::addi(iacc[j], Isa::madd(s16[j], sv));
        }
      }
    }
    const F dv = Isa::loadf(w.d + blk * G);
    for (int j = 0; j < NR; ++j) acc[j] = Isa::fma(Isa::cvt(iacc[j]), Isa::mul(dv, Isa::set1(xd[j][blk])), acc[j]);
    if (p.ncw) {
      for (int k = 0; k < kCorrPerBlock; ++k) {
        const int64_t e = blk * kCorrPerBlock + k;
        const F cv = Isa::loadf(w.c + e * G);
        for (int j = 0; j < NR; ++j) acc[j] = Isa::fma(cv, Isa::set1(cx[j][e]), acc[j]);
      }
    }
  }
  // Lanes are weight rows: store them straight into the output rows.
  for (int j = 0; j < NR; ++j) {
    float* y = out.y + j * out.ldy;
    if (out.rows == G) {
      Isa::storef(y, out.accumulate ? Isa::add(Isa::loadf(y), acc[j]) : acc[j]);
    } else {
      alignas(64) float tmp[G];
      Isa::storef(tmp, acc[j]);
      for (int r = 0; r < out.rows; ++r) y[r] = out.accumulate ? y[r] + tmp[r] : tmp[r];
    }
  }
}

template <int MR, int NR>
void kernel_float(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t, int64_t k0,
                  const KernelOut& out) {
  using F = typename Isa::F;
  constexpr int kSteps = 16 / Isa::kFloats;
  const float* f = reinterpret_cast<const float*>(base);
  const float* xf[NR];
  for (int j = 0; j < NR; ++j) xf[j] = a.f + (t + j) * a.n_pad + k0;
  F acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = Isa::zerof();
  for (int64_t c = 0; c < p.kc / 16; ++c) {
    for (int h = 0; h < kSteps; ++h) {
      F xv[NR];
      for (int j = 0; j < NR; ++j) xv[j] = Isa::loadf(xf[j] + c * 16 + h * Isa::kFloats);
      for (int r = 0; r < MR; ++r) {
        const F wv = Isa::loadf(f + (c * MR + r) * 16 + h * Isa::kFloats);
        for (int j = 0; j < NR; ++j) acc[r][j] = Isa::fma(wv, xv[j], acc[r][j]);
      }
    }
  }
  store_out<MR, NR>(out, acc);
}

#if SHORTGPT_ISA_HAS_BF16_PAIRS
template <int MR, int NR>
void kernel_bf16_pairs(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t, int64_t k0,
                       const KernelOut& out) {
  using F = typename Isa::F;
  const uint16_t* hw = reinterpret_cast<const uint16_t*>(base);
  const uint16_t* xh[NR];
  for (int j = 0; j < NR; ++j) xh[j] = a.h + (t + j) * a.n_pad + k0;
  F acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = Isa::zerof();
  for (int64_t c = 0; c < p.kc / 32; ++c) {
    typename Isa::I xv[NR];
    for (int j = 0; j < NR; ++j) xv[j] = Isa::loadi(xh[j] + c * 32);
    for (int r = 0; r < MR; ++r) {
      const typename Isa::I wv = Isa::loadi(hw + (c * MR + r) * 32);
      for (int j = 0; j < NR; ++j) acc[r][j] = Isa::dot_bf16_pairs(acc[r][j], wv, xv[j]);
    }
  }
  store_out<MR, NR>(out, acc);
}
#endif

// Runs the kernel for activation rows [t0, t1) in steps of NR (smaller tail).
template <int MR, int NR, template <int, int> class K>
void sweep(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t0, int64_t t1, int64_t k0,
           KernelOut out, int64_t ldy) {
  int64_t t = t0;
  for (; t + NR <= t1; t += NR) {
    K<MR, NR>::run(p, base, a, t, k0, out);
    out.y += NR * ldy;
  }
  const int64_t rest = t1 - t;
  if constexpr (NR > 1) {
    if (rest >= 1) {
      if constexpr (NR > 3) {
        if (rest == 3) return K<MR, 3>::run(p, base, a, t, k0, out);
      }
      if constexpr (NR > 2) {
        if (rest == 2) return K<MR, 2>::run(p, base, a, t, k0, out);
      }
      if (rest == 1) return K<MR, 1>::run(p, base, a, t, k0, out);
    }
  }
}

// The integer kernels over activation rows [t0, t1): Isa::kNrInt at a time,
// then one call for the remainder.
template <bool kSigned, bool kK, int kI16, int N = Isa::kNrInt>
void run_tail(int64_t rest, const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t, int64_t k0,
              const KernelOut& out) {
  if constexpr (N >= 1) {
    if (rest == N) return kernel_int<N, kSigned, kK, kI16>(p, base, a, t, k0, out);
    run_tail<kSigned, kK, kI16, N - 1>(rest, p, base, a, t, k0, out);
  }
}

template <bool kSigned, bool kK, int kI16>
void sweep_int(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t0, int64_t t1, int64_t k0,
               KernelOut out, int64_t ldy) {
  constexpr int NR = Isa::kNrInt;
  int64_t t = t0;
  for (; t + NR <= t1; t += NR) {
    kernel_int<NR, kSigned, kK, kI16>(p, base, a, t, k0, out);
    out.y += NR * ldy;
  }
  if (t < t1) run_tail<kSigned, kK, kI16>(t1 - t, p, base, a, t, k0, out);
}

template <int MR, int NR> struct RunFloat { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_float<MR, NR>(p, b, a, t, k0, o); } };
#if SHORTGPT_ISA_HAS_BF16_PAIRS
template <int MR, int NR> struct RunBf16 { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_bf16_pairs<MR, NR>(p, b, a, t, k0, o); } };
#endif

// ---------------------------------------------------------------------------
// Tasks.

constexpr int kGroup = Isa::kVecBytes / 4;  // rows per interleaved group

size_t scratch_bytes(const GemmArgs& g) {
  const Format f = format_of(g.type, Isa::bf16_pairs());
  const PanelLayout p = panel_layout(f.kind, f.kc, has_corr(g.type), kGroup);
  return p.bytes * static_cast<size_t>((kTile + p.mr - 1) / p.mr);
}

int64_t task_count(const GemmArgs& g) {
  const int64_t tiles = (g.n_out + kTile - 1) / kTile;
  const int64_t chunks = (g.act.rows + kTileT - 1) / kTileT;
  return tiles * chunks;
}

// The integer sweep for one weight type.
void sweep_type(int32_t type, const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t0, int64_t t1,
                int64_t k0, const KernelOut& out, int64_t ldy) {
  switch (type) {
    case 2: case 3: return sweep_int<false, false, i16_steps(2)>(p, base, a, t0, t1, k0, out, ldy);
    case 6: case 7: return sweep_int<false, false, i16_steps(6)>(p, base, a, t0, t1, k0, out, ldy);
    case 8: case 20: return sweep_int<true, false, 1>(p, base, a, t0, t1, k0, out, ldy);
    case 10: case 11: case 12: case 13: return sweep_int<false, true, i16_steps(12)>(p, base, a, t0, t1, k0, out, ldy);
    case 14: return sweep_int<false, true, i16_steps(14)>(p, base, a, t0, t1, k0, out, ldy);
    default: return sweep_int<true, true, 1>(p, base, a, t0, t1, k0, out, ldy);  // IQ4_XS
  }
}

void run_task(const GemmArgs& g, int64_t task, uint8_t* scratch) {
  const Format f = format_of(g.type, Isa::bf16_pairs());
  const int64_t tiles = (g.n_out + kTile - 1) / kTile;
  const int64_t o0 = (task % tiles) * kTile;
  const int64_t t0 = (task / tiles) * kTileT;
  const int64_t rows = g.n_out - o0 < kTile ? g.n_out - o0 : kTile;
  const int64_t t1 = g.act.rows - t0 < kTileT ? g.act.rows : t0 + kTileT;
  const int64_t k_total = g.act.n_pad;
  const bool corr = has_corr(g.type);
  for (int64_t k0 = 0; k0 < k_total; k0 += f.kc) {
    const int64_t kc = k_total - k0 < f.kc ? k_total - k0 : f.kc;
    const PanelLayout p = panel_layout(f.kind, kc, corr, kGroup);
    const int mr = p.mr;
    const int64_t panels = (rows + mr - 1) / mr;
    for (int64_t m = 0; m < panels; ++m) {
      const int prow = static_cast<int>(rows - m * mr < mr ? rows - m * mr : mr);
      unpack_panel(g, f, p, scratch + m * p.bytes, o0 + m * mr, prow, k0);
    }
    for (int64_t m = 0; m < panels; ++m) {
      KernelOut out;
      out.ldy = g.n_out;
      out.y = g.y + t0 * g.n_out + o0 + m * mr;
      out.rows = static_cast<int>(rows - m * mr < mr ? rows - m * mr : mr);
      out.accumulate = k0 > 0;
      const uint8_t* base = scratch + m * p.bytes;
      switch (f.kind) {
        case Kind::Float: sweep<kMrF, kNrF, RunFloat>(p, base, g.act, t0, t1, k0, out, g.n_out); break;
        case Kind::Bf16Pairs:
#if SHORTGPT_ISA_HAS_BF16_PAIRS
          sweep<kMrF, kNrF, RunBf16>(p, base, g.act, t0, t1, k0, out, g.n_out);
#endif
          break;
        default: sweep_type(g.type, p, base, g.act, t0, t1, k0, out, g.n_out); break;
      }
    }
  }
}

}  // namespace
