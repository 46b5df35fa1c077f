// The SIMD matmul, written once over an instruction-set traits class `Isa`
// and compiled by gemm_avx2.cc and gemm_avx512.cc (each inside its own
// namespace, with its own -m flags). Not a header: include it only there,
// after defining `Isa` (see gemm_avx2.cc for the operations it must provide).
//
// How it works. A task owns a tile of weight rows and a chunk of activation
// rows. For each K chunk it first unpacks the tile's weights into a panel
// (gemm_panel.h, unpack_x86.h): blocks decoded into one byte per weight, laid
// out so a micro-kernel reads MR rows x 64 bytes contiguously, with scales
// beside them.
// Unpacking costs one pass over the weights and is then reused by every
// activation row of the chunk; the micro-kernels only multiply. A
// micro-kernel computes MR weight rows x NR activation rows with MR*NR
// vector accumulators, so each loaded vector feeds several products.
//
// Integer formats: weights as u8 codes (value = scale * (code - offset)) or
// int8 values; activations int8. u8 x s8 products are summed in 16-bit pairs
// (no overflow: codes <= 63, or |int8| <= 128 against |x| <= 127) and in
// 32-bit lanes. Offsets and mins become one extra term per block,
// sum_b cw[b] * cx[b], with cw from the weights (-offset * d, or m, or
// -dmin * min) and cx from the activation (d * sum of its quants, or Q8_1's s),
// computed with float vectors after the main loop.
//   32-blocks (Q4_0..Q8_0, IQ4_NL): per block, i32 lanes -> float, times
//     d_w * d_x, accumulated in float.
//   K-quants, IQ4_XS: the integer sub-block scales multiply the 16-bit pair
//     sums (madd), so a whole 256 super-block accumulates in i32; one float
//     multiply-add per super-block.
//   F32/F16/BF16: weights widened to f32 in the panel; f32 FMAs (or, with
//     AVX512-BF16, bf16 pair dot products).

namespace {

// Fills micro-panel `base` with rows [o, o + rows) (rows <= MR; the rest zero)
// for elements [k0, k0 + kc) of the weight (zero beyond n_in).
void unpack_panel(const GemmArgs& g, const Format& fmt, const PanelLayout& p, uint8_t* base, int64_t o, int rows,
                  int64_t k0) {
  const int64_t kc = p.kc;
  const int64_t k_avail = g.n_in - k0 < kc ? g.n_in - k0 : kc;  // real elements in this chunk
  const bool full = rows == p.mr && k_avail == kc;
  if (!full) std::memset(base, 0, p.bytes);
  const PanelPtrs o_ptrs = panel_ptrs(base, p);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = g.w + static_cast<size_t>(o + r) * g.row_bytes;
    if (fmt.kind == Kind::Float) {
      float* f = reinterpret_cast<float*>(base);
      switch (g.type) {
        case 0: x86::unpack_row_float<0>(row, k0, k_avail, p, f, r); break;
        case 1: x86::unpack_row_float<1>(row, k0, k_avail, p, f, r); break;
        default: x86::unpack_row_float<30>(row, k0, k_avail, p, f, r); break;
      }
      continue;
    }
    if (fmt.kind == Kind::Bf16Pairs) {
      x86::unpack_row_bf16_pairs(row, k0, k_avail, p, reinterpret_cast<uint16_t*>(base), r);
      continue;
    }
    const int64_t b0 = k0 / fmt.block, nb = k_avail / fmt.block;
    switch (g.type) {
      case 2: x86::unpack_row_q32<2>(row, b0, nb, p, o_ptrs, r); break;
      case 3: x86::unpack_row_q32<3>(row, b0, nb, p, o_ptrs, r); break;
      case 6: x86::unpack_row_q32<6>(row, b0, nb, p, o_ptrs, r); break;
      case 7: x86::unpack_row_q32<7>(row, b0, nb, p, o_ptrs, r); break;
      case 8: x86::unpack_row_q32<8>(row, b0, nb, p, o_ptrs, r); break;
      case 20: x86::unpack_row_q32<20>(row, b0, nb, p, o_ptrs, r); break;
      case 10: x86::unpack_row_k<10>(row, b0, nb, p, o_ptrs, r); break;
      case 11: x86::unpack_row_k<11>(row, b0, nb, p, o_ptrs, r); break;
      case 12: x86::unpack_row_k<12>(row, b0, nb, p, o_ptrs, r); break;
      case 13: x86::unpack_row_k<13>(row, b0, nb, p, o_ptrs, r); break;
      case 14: x86::unpack_row_k<14>(row, b0, nb, p, o_ptrs, r); break;
      default: x86::unpack_row_k<23>(row, b0, nb, p, o_ptrs, r); break;
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

// sum_b cw[r][b] * cx[j][b] added into the accumulators.
template <int MR, int NR>
inline void add_corr(typename Isa::F (&acc)[MR][NR], const float* cw, int64_t ncw, const float* const* cx) {
  using F = typename Isa::F;
  for (int64_t k = 0; k < ncw; k += Isa::kFloats) {
    F xv[NR];
    for (int j = 0; j < NR; ++j) xv[j] = Isa::loadf(cx[j] + k);
    for (int r = 0; r < MR; ++r) {
      const F wv = Isa::loadf(cw + r * ncw + k);
      for (int j = 0; j < NR; ++j) acc[r][j] = Isa::fma(wv, xv[j], acc[r][j]);
    }
  }
}

template <int MR, int NR, bool kSigned>
void kernel_q32(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t, int64_t k0,
                const KernelOut& out) {
  using F = typename Isa::F;
  using I = typename Isa::I;
  constexpr int kSteps = kChunk / Isa::kVecBytes;
  constexpr int kBlocksPerStep = Isa::kVecBytes / 32;
  const PanelPtrs w = panel_ptrs(const_cast<uint8_t*>(base), p);
  const int8_t* xq[NR];
  const float* xd[NR];
  for (int j = 0; j < NR; ++j) {
    xq[j] = a.qs + (t + j) * a.n_pad + k0;
    xd[j] = a.d + (t + j) * a.d_stride + k0 / 32;
  }
  F acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = Isa::zerof();
  const int64_t chunks = p.kc / kChunk;
  for (int64_t c = 0; c < chunks; ++c) {
    for (int h = 0; h < kSteps; ++h) {
      const int64_t off = c * kChunk + h * Isa::kVecBytes;
      I xv[NR];
      F xs[NR];
      for (int j = 0; j < NR; ++j) {
        xv[j] = Isa::loadi(xq[j] + off);
        xs[j] = Isa::block_scales(xd[j] + off / 32);
      }
      for (int r = 0; r < MR; ++r) {
        const I wv = Isa::loadi(w.q + (c * MR + r) * kChunk + h * Isa::kVecBytes);
        const F ws = Isa::block_scales(w.d + (c * MR + r) * 2 + h * kBlocksPerStep);
        if constexpr (kSigned) {
          const I wa = Isa::abs_i8(wv);
          for (int j = 0; j < NR; ++j) {
            const I s = Isa::dot_u8s8(wa, Isa::sign_i8(xv[j], wv));
            acc[r][j] = Isa::fma(Isa::cvt(s), Isa::mul(ws, xs[j]), acc[r][j]);
          }
        } else {
          for (int j = 0; j < NR; ++j) {
            const I s = Isa::dot_u8s8(wv, xv[j]);
            acc[r][j] = Isa::fma(Isa::cvt(s), Isa::mul(ws, xs[j]), acc[r][j]);
          }
        }
      }
    }
  }
  if (p.ncw) {
    const float* cx[NR];
    for (int j = 0; j < NR; ++j) cx[j] = a.corr + (t + j) * a.corr_stride + k0 / 32;
    add_corr<MR, NR>(acc, w.c, p.ncw, cx);
  }
  store_out<MR, NR>(out, acc);
}

template <int MR, int NR, bool kSigned>
void kernel_k(const PanelLayout& p, const uint8_t* base, const ActView& a, int64_t t, int64_t k0,
              const KernelOut& out) {
  using F = typename Isa::F;
  using I = typename Isa::I;
  constexpr int kSteps = kChunk / Isa::kVecBytes;
  const PanelPtrs w = panel_ptrs(const_cast<uint8_t*>(base), p);
  const int8_t* xq[NR];
  const float* xd[NR];
  for (int j = 0; j < NR; ++j) {
    xq[j] = a.qs + (t + j) * a.n_pad + k0;
    xd[j] = a.d + (t + j) * a.d_stride + k0 / kQKK;
  }
  F acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = Isa::zerof();
  const int64_t n_sb = p.kc / kQKK;
  for (int64_t sb = 0; sb < n_sb; ++sb) {
    I iacc[MR][NR];
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < NR; ++j) iacc[r][j] = Isa::zeroi();
    for (int c = 0; c < kQKK / kChunk; ++c) {
      const int64_t chunk = sb * (kQKK / kChunk) + c;
      for (int h = 0; h < kSteps; ++h) {
        const int64_t off = chunk * kChunk + h * Isa::kVecBytes;
        I xv[NR];
        for (int j = 0; j < NR; ++j) xv[j] = Isa::loadi(xq[j] + off);
        for (int r = 0; r < MR; ++r) {
          const I wv = Isa::loadi(w.q + (chunk * MR + r) * kChunk + h * Isa::kVecBytes);
          const I sv = Isa::loadi(w.s + (chunk * MR + r) * 32 + h * (Isa::kVecBytes / 2));
          if constexpr (kSigned) {
            const I wa = Isa::abs_i8(wv);
            for (int j = 0; j < NR; ++j)
              iacc[r][j] = Isa::addi(iacc[r][j], Isa::dot_u8s8_scaled(wa, Isa::sign_i8(xv[j], wv), sv));
          } else {
            for (int j = 0; j < NR; ++j) iacc[r][j] = Isa::addi(iacc[r][j], Isa::dot_u8s8_scaled(wv, xv[j], sv));
          }
        }
      }
    }
    for (int r = 0; r < MR; ++r) {
      const float dw = w.d[sb * MR + r];
      for (int j = 0; j < NR; ++j) acc[r][j] = Isa::fma(Isa::cvt(iacc[r][j]), Isa::set1(dw * xd[j][sb]), acc[r][j]);
    }
  }
  if (p.ncw) {
    const float* cx[NR];
    for (int j = 0; j < NR; ++j) cx[j] = a.corr + (t + j) * a.corr_stride + k0 / 16;
    add_corr<MR, NR>(acc, w.c, p.ncw, cx);
  }
  store_out<MR, NR>(out, acc);
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

template <int MR, int NR> struct RunQ32U { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_q32<MR, NR, false>(p, b, a, t, k0, o); } };
template <int MR, int NR> struct RunQ32S { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_q32<MR, NR, true>(p, b, a, t, k0, o); } };
template <int MR, int NR> struct RunKU { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_k<MR, NR, false>(p, b, a, t, k0, o); } };
template <int MR, int NR> struct RunKS { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_k<MR, NR, true>(p, b, a, t, k0, o); } };
template <int MR, int NR> struct RunFloat { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_float<MR, NR>(p, b, a, t, k0, o); } };
#if SHORTGPT_ISA_HAS_BF16_PAIRS
template <int MR, int NR> struct RunBf16 { static void run(const PanelLayout& p, const uint8_t* b, const ActView& a, int64_t t, int64_t k0, const KernelOut& o) { kernel_bf16_pairs<MR, NR>(p, b, a, t, k0, o); } };
#endif

// ---------------------------------------------------------------------------
// Tasks.

size_t scratch_bytes(const GemmArgs& g) {
  const Format f = format_of(g.type, Isa::bf16_pairs());
  const PanelLayout p = panel_layout(f.kind, f.kc, has_corr(g.type));
  return p.bytes * static_cast<size_t>((kTile + p.mr - 1) / p.mr);
}

int64_t task_count(const GemmArgs& g) {
  const int64_t tiles = (g.n_out + kTile - 1) / kTile;
  const int64_t chunks = (g.act.rows + kTileT - 1) / kTileT;
  return tiles * chunks;
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
    const PanelLayout p = panel_layout(f.kind, kc, corr);
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
        case Kind::Q32U: sweep<kMrQ, kNrQ, RunQ32U>(p, base, g.act, t0, t1, k0, out, g.n_out); break;
        case Kind::Q32S: sweep<kMrQ, kNrQ, RunQ32S>(p, base, g.act, t0, t1, k0, out, g.n_out); break;
        case Kind::KU: sweep<kMrK, kNrK, RunKU>(p, base, g.act, t0, t1, k0, out, g.n_out); break;
        case Kind::KS: sweep<kMrK, kNrK, RunKS>(p, base, g.act, t0, t1, k0, out, g.n_out); break;
        case Kind::Float: sweep<kMrF, kNrF, RunFloat>(p, base, g.act, t0, t1, k0, out, g.n_out); break;
        case Kind::Bf16Pairs:
#if SHORTGPT_ISA_HAS_BF16_PAIRS
          sweep<kMrF, kNrF, RunBf16>(p, base, g.act, t0, t1, k0, out, g.n_out);
#endif
          break;
      }
    }
  }
}

}  // namespace
