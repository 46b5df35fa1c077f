#include "engine/rope.h"

#include "cpu/rope.h"
#include "engine/model_weights.h"

namespace shortgpt {

RopeSetting rope_setting(const ModelConfig& config, const ModelWeights& weights, int layer, int64_t context) {
  const BlockConfig& b = config.blocks[static_cast<size_t>(layer)];
  RopeSetting setting;
  setting.base = b.rope_base;
  setting.freq_scale = b.rope_freq_scale;
  if (!weights.rope_freq_factors().empty()) {
    setting.factors = weights.rope_freq_factors().data();
  } else if (!weights.rope_factors_short().empty() || !weights.rope_factors_long().empty()) {
    const bool use_long = config.rope.n_ctx_orig > 0 && context > config.rope.n_ctx_orig;
    const Vec& f = use_long ? weights.rope_factors_long() : weights.rope_factors_short();
    setting.factors = f.empty() ? nullptr : f.data();
  }
  return setting;
}

void RopeTable::reserve(int64_t n) {
  if (n <= n_pos_) return;
  const int n_rot = rope_.n_rot;
  cpu::RopeParams p;
  p.n_rot = n_rot;
  p.freq_base = setting_.base;
  p.freq_scale = setting_.freq_scale;
  p.freq_factors = setting_.factors;
  p.ext_factor = rope_.ext_factor;
  p.attn_factor = rope_.attn_factor;
  if (rope_.ext_factor != 0.0f) {
    cpu::rope_yarn_corr_dims(n_rot, static_cast<int>(rope_.n_ctx_orig), setting_.base, rope_.beta_fast,
                             rope_.beta_slow, p.corr_dims);
  }
  cs_.resize(static_cast<size_t>(n) * static_cast<size_t>(n_rot));
  for (int64_t pos = n_pos_; pos < n; ++pos) {
    cpu::rope_cache(p, static_cast<float>(pos), cs_.data() + static_cast<size_t>(pos) * static_cast<size_t>(n_rot));
  }
  n_pos_ = n;
}

void RopeTable::apply(float* x, int64_t head_dim, int64_t pos) const {
  const int n_rot = rope_.n_rot;
  cpu::rope_apply(rope_.type == RopeType::Norm ? cpu::RopeMode::Normal : cpu::RopeMode::Neox, x, head_dim, n_rot,
                  cs_.data() + static_cast<size_t>(pos) * static_cast<size_t>(n_rot));
}

}  // namespace shortgpt
