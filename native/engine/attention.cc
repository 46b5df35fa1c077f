#include "engine/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "cpu/fp16.h"

namespace shortgpt {

// ---------------------------------------------------------------------------
// Scalar kernels: the reference for attention_avx2.cc, bit for bit.

float ggml_expf_lane(float x) {
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  auto from = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  const float shift = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, shift);
  const float n = z - shift;
  const float r = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = bits(z) << 23;
  const float scale = from(e + bits(1.0f));
  const float r2 = r * r;
  const float poly = std::fma(std::fma(std::fma(0x1.0e4020p-7f, r, 0x1.573e2ep-5f), r2, std::fma(0x1.555e66p-3f, r, 0x1.fffdb6p-2f)),
                              r2, 0x1.ffffecp-1f * r);
  const float abs_n = std::fabs(n);
  if (!(abs_n > 126.0f)) return std::fma(scale, poly, scale);
  const uint32_t neg = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = from(neg + 0x7f000000u);
  const float s2 = from(e - neg);
  if (abs_n > 192.0f) return s1 * s1;
  return std::fma(s2, poly, s2) * s1;
}

namespace {

void scores_scalar(const float* q, const float* kt, int dk, float scale, float* s) {
  for (int i = 0; i < kAttnTile; ++i) {
    for (int j = 0; j < kAttnTile; ++j) {
      float acc = 0.0f;
      for (int d = 0; d < dk; ++d) acc = std::fma(kt[d * kAttnTile + j], q[i * dk + d], acc);
      s[i * kAttnTile + j] = acc * scale;
    }
  }
}

double exp_row_scalar(float* row, float max) {
  double sum = 0.0;
  for (int j = 0; j < kAttnTile; j += 8) {
    float e[8];
    for (int l = 0; l < 8; ++l) e[l] = row[j + l] = ggml_expf_lane(row[j + l] - max);
    // ggml's 8-lane order: halves, then pairs, then the last two.
    float h[4];
    for (int l = 0; l < 4; ++l) h[l] = e[l + 4] + e[l];
    const float a = h[0] + h[2], b = h[1] + h[3];
    sum += static_cast<double>(a + b);
  }
  return sum;
}

void accumulate_scalar(const float* p, const float* v, int dv, float* acc) {
  for (int i = 0; i < kAttnTile; ++i) {
    for (int d = 0; d < dv; ++d) {
      float a = acc[i * dv + d];
      for (int j = 0; j < kAttnTile; ++j) a = std::fma(v[j * dv + d], p[i * kAttnTile + j], a);
      acc[i * dv + d] = a;
    }
  }
}

constexpr AttnKernels kScalar = {"scalar", scores_scalar, exp_row_scalar, accumulate_scalar};

const AttnKernels& kernels_for(SimdLevel level) {
#ifdef SHORTGPT_HAVE_X86_SIMD
  if (level != SimdLevel::Scalar) return avx2::attn_kernels();
#endif
  (void)level;
  return kScalar;
}

}  // namespace

// ggml_vec_dot_f16 / _f32 on AVX2: four 8-lane FMA accumulators over steps of
// 32, reduced (0+2, 1+3, 0+1, halves, pairs), then the tail in double.
float dot_ggml(const float* a, const float* b, int n) {
  float acc[4][8] = {};
  const int np = n & ~31;
  for (int i = 0; i < np; i += 32) {
    for (int r = 0; r < 4; ++r) {
      for (int l = 0; l < 8; ++l) acc[r][l] = std::fma(a[i + 8 * r + l], b[i + 8 * r + l], acc[r][l]);
    }
  }
  for (int l = 0; l < 8; ++l) {
    acc[0][l] += acc[2][l];
    acc[1][l] += acc[3][l];
  }
  for (int l = 0; l < 8; ++l) acc[0][l] += acc[1][l];
  float h[4];
  for (int l = 0; l < 4; ++l) h[l] = acc[0][l] + acc[0][l + 4];
  double sum = static_cast<double>((h[0] + h[1]) + (h[2] + h[3]));
  for (int i = np; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

const AttnKernels& attn_kernels_scalar() { return kScalar; }

// ---------------------------------------------------------------------------

CpuAttention::CpuAttention(SimdLevel level) : kernels_(kernels_for(level)) {}

int64_t CpuAttention::bytes_per_token(const AttentionParams& p) {
  // Packed K and V (padded to whole tiles: at most one tile per sequence more).
  return int64_t(p.n_head_kv) * (p.head_dim_k + p.head_dim_v) * int64_t(sizeof(float));
}

void CpuAttention::pack(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in,
                        cpu::ThreadPool& pool) {
  const int64_t S = batch.sequences();
  const int dk = p.head_dim_k, dv = p.head_dim_v, kv = p.n_head_kv;
  seq_tiles_.assign(static_cast<size_t>(S) + 1, 0);
  for (int64_t s = 0; s < S; ++s) {
    seq_tiles_[static_cast<size_t>(s) + 1] = seq_tiles_[static_cast<size_t>(s)] + (batch.length(s) + kAttnTile - 1) / kAttnTile;
  }
  const int64_t tiles = seq_tiles_.back();
  kt_.resize(static_cast<size_t>(tiles * kv * dk * kAttnTile));
  vp_.resize(static_cast<size_t>(tiles * kv * kAttnTile * dv));
  const bool round = p.f16_cache;
  pool.parallel_for(S * kv, [&](int64_t task, int) {
    const int64_t s = task / kv;
    const int g = static_cast<int>(task % kv);
    const int64_t start = batch.starts[static_cast<size_t>(s)];
    const int64_t len = batch.length(s);
    const int64_t nt = seq_tiles_[static_cast<size_t>(s) + 1] - seq_tiles_[static_cast<size_t>(s)];
    const int64_t base = seq_tiles_[static_cast<size_t>(s)] * kv + int64_t(g) * nt;
    float* kt = kt_.data() + base * dk * kAttnTile;
    float* vp = vp_.data() + base * kAttnTile * dv;
    for (int64_t j = 0; j < nt * kAttnTile; ++j) {
      const int64_t tile = j / kAttnTile, col = j % kAttnTile;
      float* kdst = kt + tile * dk * kAttnTile + col;
      float* vdst = vp + j * dv;
      if (j < len) {
        const float* ks = in.k + (start + j) * in.k_stride + int64_t(g) * dk;
        const float* vs = in.v + (start + j) * in.v_stride + int64_t(g) * dv;
        for (int d = 0; d < dk; ++d) kdst[int64_t(d) * kAttnTile] = round ? cpu::round_to_fp16(ks[d]) : ks[d];
        for (int d = 0; d < dv; ++d) vdst[d] = round ? cpu::round_to_fp16(vs[d]) : vs[d];
      } else {
        // Empty cells hold zeros, as llama.cpp's cleared cache does; they are masked.
        for (int d = 0; d < dk; ++d) kdst[int64_t(d) * kAttnTile] = 0.0f;
        std::fill(vdst, vdst + dv, 0.0f);
      }
    }
  });
}

void CpuAttention::tiled_task(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in,
                              int64_t seq, int head, int64_t row0, int worker) {
  const int dk = p.head_dim_k, dv = p.head_dim_v, kv = p.n_head_kv;
  const int g = head / (p.n_head / p.n_head_kv);
  const int64_t start = batch.starts[static_cast<size_t>(seq)];
  const int64_t len = batch.length(seq);
  const int64_t nt = seq_tiles_[static_cast<size_t>(seq) + 1] - seq_tiles_[static_cast<size_t>(seq)];
  const int64_t base = seq_tiles_[static_cast<size_t>(seq)] * kv + int64_t(g) * nt;
  const float* kt = kt_.data() + base * dk * kAttnTile;
  const float* vp = vp_.data() + base * kAttnTile * dv;
  const int rows = static_cast<int>(std::min<int64_t>(kAttnTile, len - row0));
  Scratch& sc = scratch_[static_cast<size_t>(worker)];
  float* q = sc.q.data();
  float* s = sc.s.data();
  float* acc = sc.acc.data();
  std::fill(q, q + kAttnTile * dk, 0.0f);
  for (int r = 0; r < rows; ++r) {
    std::memcpy(q + r * dk, in.q + (start + row0 + r) * in.q_stride + int64_t(head) * dk, sizeof(float) * size_t(dk));
  }
  std::fill(acc, acc + kAttnTile * dv, 0.0f);
  float M[kAttnTile], Ssum[kAttnTile];
  bool skip[kAttnTile];
  for (int r = 0; r < kAttnTile; ++r) {
    M[r] = -INFINITY;
    Ssum[r] = 0.0f;
  }
  const float scale = folded_kq_scale(p.kq_scale, p.softcap);
  const int64_t last = row0 + rows - 1;
  for (int64_t tile = 0; tile < nt; ++tile) {
    const int64_t c0 = tile * kAttnTile;
    if (c0 > last) break;  // every later cell is in the future of every row
    // A tile no row may see is skipped (a sliding window's old tiles).
    if (p.window > 0 && c0 + kAttnTile - 1 <= last - p.window - (rows - 1)) continue;
    kernels_.scores(q, kt + tile * dk * kAttnTile, dk, scale, s);
    if (p.softcap != 0.0f) {
      for (int i = 0; i < kAttnTile * kAttnTile; ++i) s[i] = std::tanh(s[i]) * p.softcap;
    }
    // Whole tile before every row, inside the sequence and the window: no mask.
    const bool all_visible = c0 + kAttnTile - 1 <= row0 && c0 + kAttnTile <= len &&
                             (p.window == 0 || last - c0 < p.window);
    for (int r = 0; r < kAttnTile; ++r) {
      float* row = s + r * kAttnTile;
      if (r < rows && !all_visible) {
        const int64_t t = row0 + r;
        for (int j = 0; j < kAttnTile; ++j) {
          const int64_t c = c0 + j;
          const bool visible = c <= t && c < len && (p.window == 0 || t - c < p.window);
          if (!visible) row[j] = -INFINITY;
        }
      }
      // Scores are never NaN here, so a plain comparison is ggml's max.
      float tile_max = -INFINITY;
      for (int j = 0; j < kAttnTile; ++j) tile_max = row[j] > tile_max ? row[j] : tile_max;
      skip[r] = tile_max == -INFINITY;
      if (skip[r]) continue;
      const float m_new = tile_max > M[r] ? tile_max : M[r];
      if (m_new > M[r]) {
        const float ms = std::exp(M[r] - m_new);
        float* a = acc + r * dv;
        for (int d = 0; d < dv; ++d) a[d] *= ms;
        Ssum[r] *= ms;
      }
      M[r] = m_new;
      Ssum[r] = static_cast<float>(static_cast<double>(Ssum[r]) + kernels_.exp_row(row, m_new));
    }
    for (int r = 0; r < kAttnTile; ++r) {
      if (skip[r]) std::fill(s + r * kAttnTile, s + (r + 1) * kAttnTile, 0.0f);
    }
    kernels_.accumulate(s, vp + c0 * dv, dv, acc);
  }
  for (int r = 0; r < rows; ++r) {
    const float inv = Ssum[r] == 0.0f ? 0.0f : 1.0f / Ssum[r];
    float* o = in.out + (start + row0 + r) * in.out_stride + int64_t(head) * dv;
    const float* a = acc + r * dv;
    for (int d = 0; d < dv; ++d) o[d] = a[d] * inv;
  }
}

void CpuAttention::one_chunk_row(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in,
                                 int64_t seq, int head, int64_t t) {
  const int dk = p.head_dim_k, dv = p.head_dim_v, kv = p.n_head_kv;
  const int g = head / (p.n_head / p.n_head_kv);
  const int64_t start = batch.starts[static_cast<size_t>(seq)];
  const int64_t nt = seq_tiles_[static_cast<size_t>(seq) + 1] - seq_tiles_[static_cast<size_t>(seq)];
  const int64_t base = seq_tiles_[static_cast<size_t>(seq)] * kv + int64_t(g) * nt;
  const float* kt = kt_.data() + base * dk * kAttnTile;
  const float* vp = vp_.data() + base * kAttnTile * dv;
  const bool f16 = p.f16_cache;
  float q[1024], k[1024], acc[1024];
  const float* qs = in.q + (start + t) * in.q_stride + int64_t(head) * dk;
  // The product with an f16 K converts Q to f16 first.
  for (int d = 0; d < dk; ++d) q[d] = f16 ? cpu::round_to_fp16(qs[d]) : qs[d];
  std::fill(acc, acc + dv, 0.0f);
  const float scale = folded_kq_scale(p.kq_scale, p.softcap);
  float S = 0.0f, M = -INFINITY;
  const int64_t lo = p.window > 0 ? std::max<int64_t>(0, t - p.window + 1) : 0;
  for (int64_t c = lo; c <= t; ++c) {
    const float* kcol = kt + (c / kAttnTile) * dk * kAttnTile + (c % kAttnTile);
    for (int d = 0; d < dk; ++d) k[d] = kcol[int64_t(d) * kAttnTile];
    const auto [raised, ms, vs] = online_softmax_step(dot_ggml(k, q, dk) * scale, p.softcap, M);
    if (raised) {
      for (int d = 0; d < dv; ++d) acc[d] = f16 ? cpu::round_to_fp16(acc[d] * ms) : acc[d] * ms;
    }
    // V accumulates in f16 with an f16 cache (ggml_vec_mad_f16), else f32.
    const float* v = vp + c * dv;
    for (int d = 0; d < dv; ++d) {
      const float a = std::fma(v[d], vs, acc[d]);
      acc[d] = f16 ? cpu::round_to_fp16(a) : a;
    }
    S = S * ms + vs;
  }
  const float inv = S == 0.0f ? 0.0f : 1.0f / S;
  float* o = in.out + (start + t) * in.out_stride + int64_t(head) * dv;
  for (int d = 0; d < dv; ++d) o[d] = acc[d] * inv;
}

void CpuAttention::run(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in,
                       cpu::ThreadPool& pool) {
  if (p.head_dim_k > 1024 || p.head_dim_v > 1024 || p.head_dim_v % 8 != 0) {
    throw NativeError("ERR_UNSUPPORTED_MODEL", "attention needs head sizes of at most 1024, V's a multiple of 8");
  }
  pack(batch, p, in, pool);
  if (scratch_.size() < static_cast<size_t>(pool.size())) scratch_.resize(static_cast<size_t>(pool.size()));
  for (Scratch& sc : scratch_) {
    sc.q.resize(static_cast<size_t>(kAttnTile * p.head_dim_k));
    sc.s.resize(static_cast<size_t>(kAttnTile * kAttnTile));
    sc.acc.resize(static_cast<size_t>(kAttnTile * p.head_dim_v));
  }
  // Tasks: (sequence, head, 64-row tile) for sequences of 64 tokens or more,
  // (sequence, head, row) for shorter ones, as llama.cpp picks its kernel by
  // the number of query rows.
  struct Task {
    int64_t seq;
    int head;
    int64_t row;
    bool tiled;
  };
  std::vector<Task> tasks;
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    const int64_t len = batch.length(s);
    const bool tiled = len >= kAttnTile;
    for (int h = 0; h < p.n_head; ++h) {
      for (int64_t r = 0; r < len; r += tiled ? kAttnTile : 1) tasks.push_back({s, h, r, tiled});
    }
  }
  pool.parallel_for(static_cast<int64_t>(tasks.size()), [&](int64_t i, int worker) {
    const Task& task = tasks[static_cast<size_t>(i)];
    if (task.tiled) tiled_task(batch, p, in, task.seq, task.head, task.row, worker);
    else one_chunk_row(batch, p, in, task.seq, task.head, task.row);
  });
}

}  // namespace shortgpt
