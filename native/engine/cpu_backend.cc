#include "engine/cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "cpu/dequantize.h"
#include "cpu/ops.h"
#include "cpu/weight_types.h"
#include "engine/finite.h"
#include "engine/kv_cache.h"

namespace shortgpt {

namespace {

struct CpuState final : HiddenState {
  std::vector<float> x;
};

CpuState& cpu_state(HiddenState& s) { return static_cast<CpuState&>(s); }
const CpuState& cpu_state(const HiddenState& s) { return static_cast<const CpuState&>(s); }

using Clock = std::chrono::steady_clock;

// Adds the time since `start` to `slot` and restarts the clock.
void lap(Clock::time_point& start, double& slot) {
  const auto now = Clock::now();
  slot += std::chrono::duration<double>(now - start).count();
  start = now;
}

// Rows per task for row-wise ops: enough work to amortize the dispatch.
constexpr int64_t kRowsPerTask = 16;

template <class Fn>
void for_rows(cpu::ThreadPool& pool, int64_t rows, Fn&& fn) {
  const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  pool.parallel_for(tasks, [&](int64_t task, int) {
    const int64_t r1 = std::min(rows, (task + 1) * kRowsPerTask);
    for (int64_t r = task * kRowsPerTask; r < r1; ++r) fn(r);
  });
}

}  // namespace

CpuBackend::CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options)
    : config_(config),
      weights_(weights),
      kv_(options.kv),
      pool_(options.threads),
      level_(active_simd_level()),
      attention_(level_),
      cached_kernels_(cached_attn_kernels_for(level_)) {
  cpu::require_simd_level(level_);
}

void CpuBackend::grow(std::vector<float>& buf, int64_t n) {
  if (buf.size() < static_cast<size_t>(n)) buf.resize(static_cast<size_t>(n));
}

std::unique_ptr<HiddenState> CpuBackend::new_state(int64_t rows) {
  auto s = std::make_unique<CpuState>();
  s->x.resize(static_cast<size_t>(rows * config_.n_embd));
  return s;
}

void CpuBackend::copy_state(const HiddenState& from, HiddenState& to, int64_t rows) {
  const auto& a = cpu_state(from).x;
  auto& b = cpu_state(to).x;
  const size_t n = static_cast<size_t>(rows * config_.n_embd);
  if (b.size() < n) b.resize(n);
  std::memcpy(b.data(), a.data(), n * sizeof(float));
}

void CpuBackend::embed(const int32_t* tokens, int64_t rows, HiddenState& state) {
  auto start = Clock::now();
  auto& x = cpu_state(state).x;
  const int64_t E = config_.n_embd;
  grow(x, rows * E);
  const cpu::WeightView& w = weights_.token_embd().w;
  const float scale = config_.embedding_scale;
  for_rows(pool_, rows, [&](int64_t r) {
    const int32_t tok = tokens[r];
    float* dst = x.data() + r * E;
    cpu::dequantize_row(w.type, w.data + static_cast<size_t>(tok) * w.row_bytes, dst, E);
    if (scale != 1.0f) cpu::scale(dst, dst, scale, E);
  });
  lap(start, profile_.embed);
}

void CpuBackend::project(const Matrix& w, const float* x, int64_t T, float* y, bool reuse_conversion) {
  const cpu::ActFormat fmt = cpu::activation_format(w.w.type);
  if (!(reuse_conversion && converted_valid_ && converted_from_ == x && converted_format_ == fmt)) {
    cpu::convert_activations(fmt, x, T, w.w.n_in, mm_.act, pool_, level_);
    converted_valid_ = true;
    converted_from_ = x;
    converted_format_ = fmt;
  }
  cpu::matmul_converted(w.w, mm_.act.view(), y, pool_, level_, &mm_);
}

void CpuBackend::prepare_positions(const BatchLayout& batch) {
  positions_.resize(static_cast<size_t>(batch.tokens()));
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    const int64_t start = batch.starts[static_cast<size_t>(s)];
    for (int64_t j = 0; j < batch.length(s); ++j) positions_[static_cast<size_t>(start + j)] = j;
  }
}

const RopeTable& CpuBackend::rope_for(int layer, int64_t positions, int64_t context) {
  const RopeSetting setting = rope_setting(config_, weights_, layer, context);
  for (auto& t : ropes_) {
    if (t->setting() == setting) {
      t->reserve(positions);
      return *t;
    }
  }
  ropes_.push_back(std::make_unique<RopeTable>(config_.rope, setting));
  ropes_.back()->reserve(positions);
  return *ropes_.back();
}

void CpuBackend::run_block(int layer, const BatchLayout& batch, HiddenState& state) {
  converted_valid_ = false;
  auto start = Clock::now();
  prepare_positions(batch);
  // Sequences of a batch run under a context of their own length.
  const RopeTable& rope = rope_for(layer, batch.max_length(), batch.max_length());
  lap(start, profile_.norm);
  block_forward(layer, batch.tokens(), rope, state,
                [&](const AttentionParams& ap, const AttentionInput& in) { attention_.run(batch, ap, in, pool_); });
}

std::unique_ptr<KvCache> CpuBackend::new_kv_cache(const std::vector<uint8_t>& skip, int64_t max_cells) {
  return std::make_unique<HostKvCache>(config_, skip, kv_ == KvPrecision::F16, max_cells);
}

void CpuBackend::run_block_cached(int layer, int64_t pos0, int64_t n, KvCache& kv_cache, HiddenState& state) {
  auto& cache = static_cast<HostKvCache&>(kv_cache);
  if (pos0 < 0 || n < 1 || pos0 + n > cache.max_cells()) {
    throw NativeError("ERR_INTERNAL", "cached block rows are outside the KV cache");
  }
  converted_valid_ = false;
  auto start = Clock::now();
  positions_.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) positions_[static_cast<size_t>(r)] = pos0 + r;
  const RopeTable& rope = rope_for(layer, pos0 + n, cache.max_cells());
  lap(start, profile_.norm);
  block_forward(layer, n, rope, state, [&](const AttentionParams& ap, const AttentionInput& in) {
    // The cache stores exactly what the batched attention rounds K and V to.
    cache.store(layer, pos0, n, in.k, in.k_stride, in.v, in.v_stride, level_);
    if (pos0 == 0) {
      // A prefill: the batched kernels, chosen by row count as llama.cpp does.
      BatchLayout one;
      one.add(n);
      attention_.run(one, ap, in, pool_);
    } else {
      cached_attention(ap, cache.view(layer), in.q, in.q_stride, in.out, in.out_stride, pos0, n, pool_, cached_kernels_);
    }
  });
}

void CpuBackend::block_forward(int layer, int64_t T, const RopeTable& rope, HiddenState& state, const AttendFn& attend) {
  const BlockConfig& bc = config_.blocks[static_cast<size_t>(layer)];
  const BlockWeights& w = weights_.block(layer);
  auto& x = cpu_state(state).x;
  const int64_t E = config_.n_embd;
  const int hk = config_.head_dim_k, hv = config_.head_dim_v;
  const int64_t qw = int64_t(bc.n_head) * hk, kw = int64_t(bc.n_head_kv) * hk, vw = int64_t(bc.n_head_kv) * hv;
  const int64_t aw = int64_t(bc.n_head) * hv;
  const int64_t ff = bc.n_ff;
  const float eps = config_.norm_eps;
  auto start = Clock::now();

  // Attention input norm.
  grow(xn_, T * E);
  for_rows(pool_, T, [&](int64_t r) { cpu::rmsnorm(xn_.data() + r * E, x.data() + r * E, w.attn_norm.data(), E, eps, level_); });
  lap(start, profile_.norm);

  // Q, K, V: separate projections sharing one conversion, or one fused matrix.
  const float *qp, *kp, *vp;
  int64_t q_stride, k_stride, v_stride;
  if (w.qkv.present()) {
    const int64_t total = qw + kw + vw;
    grow(qkv_, T * total);
    project(w.qkv, xn_.data(), T, qkv_.data(), false);
    if (!w.qkv_bias.empty()) for_rows(pool_, T, [&](int64_t r) { cpu::add(qkv_.data() + r * total, qkv_.data() + r * total, w.qkv_bias.data(), total); });
    qp = qkv_.data();
    kp = qkv_.data() + qw;
    vp = qkv_.data() + qw + kw;
    q_stride = k_stride = v_stride = total;
  } else {
    grow(q_, T * qw);
    grow(k_, T * kw);
    grow(v_, T * vw);
    project(w.q, xn_.data(), T, q_.data(), false);
    project(w.k, xn_.data(), T, k_.data(), true);
    project(w.v, xn_.data(), T, v_.data(), true);
    qp = q_.data();
    kp = k_.data();
    vp = v_.data();
    q_stride = qw;
    k_stride = kw;
    v_stride = vw;
  }
  lap(start, profile_.qkv);

  // Per token: biases, QK-norm, RoPE, Q pre-scale (in place). The cache's
  // fp16 rounding of K and V happens in the attention.
  float* qm = const_cast<float*>(qp);
  float* km = const_cast<float*>(kp);
  float* vm = const_cast<float*>(vp);
  const bool separate_bias = !w.qkv.present();
  const float pre_scale = config_.query_pre_scale ? config_.attention_scale : 1.0f;
  for_rows(pool_, T, [&](int64_t r) {
    float* qr = qm + r * q_stride;
    float* kr = km + r * k_stride;
    float* vr = vm + r * v_stride;
    if (separate_bias) {
      if (!w.q_bias.empty()) cpu::add(qr, qr, w.q_bias.data(), qw);
      if (!w.k_bias.empty()) cpu::add(kr, kr, w.k_bias.data(), kw);
      if (!w.v_bias.empty()) cpu::add(vr, vr, w.v_bias.data(), vw);
    }
    const int64_t pos = positions_[static_cast<size_t>(r)];
    for (int h = 0; h < bc.n_head; ++h) {
      float* qh = qr + int64_t(h) * hk;
      if (!w.q_norm.empty()) cpu::rmsnorm(qh, qh, w.q_norm.data(), hk, eps, level_);
      if (config_.rope.n_rot > 0) rope.apply(qh, hk, pos);
      if (pre_scale != 1.0f) {
        cpu::scale(qh, qh, pre_scale, hk);
      }
    }
    for (int g = 0; g < bc.n_head_kv; ++g) {
      float* kh = kr + int64_t(g) * hk;
      if (!w.k_norm.empty()) cpu::rmsnorm(kh, kh, w.k_norm.data(), hk, eps, level_);
      if (config_.rope.n_rot > 0) rope.apply(kh, hk, pos);
    }
  });
  lap(start, profile_.rope);

  AttentionParams ap;
  ap.n_head = bc.n_head;
  ap.n_head_kv = bc.n_head_kv;
  ap.head_dim_k = hk;
  ap.head_dim_v = hv;
  ap.kq_scale = config_.query_pre_scale ? 1.0f : config_.attention_scale;
  ap.softcap = config_.attn_softcap;
  ap.window = bc.sliding_window ? config_.sliding_window : 0;
  ap.f16_cache = kv_ == KvPrecision::F16;
  grow(attn_, T * aw);
  AttentionInput in;
  in.q = qp;
  in.q_stride = q_stride;
  in.k = kp;
  in.k_stride = k_stride;
  in.v = vp;
  in.v_stride = v_stride;
  in.out = attn_.data();
  in.out_stride = aw;
  attend(ap, in);
  lap(start, profile_.attention);

  grow(o_, T * E);
  project(w.output, attn_.data(), T, o_.data(), false);
  lap(start, profile_.out_proj);
  for_rows(pool_, T, [&](int64_t r) {
    float* o = o_.data() + r * E;
    if (!w.output_bias.empty()) cpu::add(o, o, w.output_bias.data(), E);
    if (!w.post_attn_norm.empty()) cpu::rmsnorm(o, o, w.post_attn_norm.data(), E, eps, level_);
    float* xr = x.data() + r * E;
    cpu::add(xr, xr, o, E);
    cpu::rmsnorm(xn_.data() + r * E, xr, w.ffn_norm.data(), E, eps, level_);
  });
  lap(start, profile_.residual);

  // FFN: gate and up share the normed input's conversion.
  const bool fused = !w.gate.present();
  grow(h_, T * ff);
  if (fused) {
    grow(up_, T * 2 * ff);
    project(w.up, xn_.data(), T, up_.data(), false);
  } else {
    grow(gate_, T * ff);
    grow(up_, T * ff);
    project(w.gate, xn_.data(), T, gate_.data(), false);
    project(w.up, xn_.data(), T, up_.data(), true);
  }
  lap(start, profile_.ffn_up);
  for_rows(pool_, T, [&](int64_t r) {
    float* g;
    float* u;
    if (fused) {
      // ggml's swiglu on [gate | up]: the first half is the gate.
      g = up_.data() + r * 2 * ff;
      u = g + ff;
      if (!w.up_bias.empty()) cpu::add(g, g, w.up_bias.data(), 2 * ff);
    } else {
      g = gate_.data() + r * ff;
      u = up_.data() + r * ff;
      if (!w.gate_bias.empty()) cpu::add(g, g, w.gate_bias.data(), ff);
      if (!w.up_bias.empty()) cpu::add(u, u, w.up_bias.data(), ff);
    }
    float* hr = h_.data() + r * ff;
    if (config_.ffn_activation == FfnActivation::Gelu) {
      cpu::geglu(hr, g, u, ff, true);
    } else {
      cpu::swiglu(hr, g, u, ff, level_);
    }
  });
  lap(start, profile_.ffn_act);
  project(w.down, h_.data(), T, o_.data(), false);
  lap(start, profile_.ffn_down);
  for_rows(pool_, T, [&](int64_t r) {
    float* o = o_.data() + r * E;
    if (!w.down_bias.empty()) cpu::add(o, o, w.down_bias.data(), E);
    if (!w.post_ffn_norm.empty()) cpu::rmsnorm(o, o, w.post_ffn_norm.data(), E, eps, level_);
    float* xr = x.data() + r * E;
    cpu::add(xr, xr, o, E);
  });
  lap(start, profile_.residual);
}

void CpuBackend::compare_rows(const HiddenState& sa, const HiddenState& sb, int64_t rows, RowComparison& out) {
  const auto& a = cpu_state(sa).x;
  const auto& b = cpu_state(sb).x;
  const int64_t E = config_.n_embd;
  out.cos.resize(static_cast<size_t>(rows));
  out.rel_change.resize(static_cast<size_t>(rows));
  for_rows(pool_, rows, [&](int64_t r) {
    const float* ar = a.data() + r * E;
    const float* br = b.data() + r * E;
    double dot = 0, na = 0, nb = 0, nd = 0;
    for (int64_t i = 0; i < E; ++i) {
      const double av = ar[i], bv = br[i], dv = bv - av;
      dot += av * bv;
      na += av * av;
      nb += bv * bv;
      nd += dv * dv;
    }
    // A zero row counts as unchanged (cos 1): never NaN.
    double c = (na > 0 && nb > 0) ? dot / std::sqrt(na * nb) : 1.0;
    c = std::min(1.0, std::max(-1.0, c));
    // ||f(x)|| / ||x + f(x)||; an all-zero output counts as 1 when the block
    // changed the state (it erased it) and 0 when it did not.
    const double rel = nb > 0 ? std::sqrt(nd) / std::sqrt(nb) : (nd > 0 ? 1.0 : 0.0);
    out.cos[static_cast<size_t>(r)] = c;
    out.rel_change[static_cast<size_t>(r)] = rel;
  });
}

bool CpuBackend::all_finite(const HiddenState& state, int64_t rows) {
  return finite_values(cpu_state(state).x.data(), static_cast<size_t>(rows * config_.n_embd));
}

void CpuBackend::logits(const HiddenState& state, const int64_t* rows, int64_t n_rows, float* out) {
  auto start = Clock::now();
  const auto& x = cpu_state(state).x;
  const int64_t E = config_.n_embd;
  const int64_t V = config_.n_vocab;
  grow(logits_in_, n_rows * E);
  for_rows(pool_, n_rows, [&](int64_t i) {
    cpu::rmsnorm(logits_in_.data() + i * E, x.data() + rows[i] * E, weights_.output_norm().data(), E, config_.norm_eps, level_);
  });
  converted_valid_ = false;
  project(weights_.output(), logits_in_.data(), n_rows, out, false);
  const Vec& bias = weights_.output_bias();
  const float cap = config_.final_softcap;
  if (!bias.empty() || cap > 0.0f) {
    for_rows(pool_, n_rows, [&](int64_t i) {
      float* row = out + i * V;
      if (!bias.empty()) cpu::add(row, row, bias.data(), V);
      if (cap > 0.0f) cpu::softcap(row, row, V, cap);
    });
  }
  lap(start, profile_.logits);
}

int64_t CpuBackend::bytes_per_token(int64_t max_len) const {
  const int64_t E = config_.n_embd;
  const int64_t ff = config_.max_ff();
  const int64_t qkv = config_.max_q_width() + 2 * int64_t(config_.max_kv_width());
  // xn, o, q/k/v (or fused), attention output, gate/up/h (fused up is 2ff),
  // K transposed, one converted activation row (at most f32-sized), positions.
  const int64_t floats = 2 * E + 2 * qkv + config_.max_attn_out() + 4 * ff + config_.max_kv_width() +
                         std::max<int64_t>(E, std::max<int64_t>(ff, config_.max_attn_out())) + 2;
  (void)max_len;  // attention scratch is per worker, not per token
  return floats * int64_t(sizeof(float));
}

int64_t CpuBackend::bytes_per_state_row() const { return int64_t(config_.n_embd) * int64_t(sizeof(float)); }

}  // namespace shortgpt
