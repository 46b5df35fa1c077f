#include "cpu/rope.h"

#include <algorithm>
#include <cmath>

// ggml computes these in float with separate roundings; keep clang from fusing.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace shortgpt::cpu {

namespace {

float yarn_ramp(float low, float high, int i0) {
  const float y = (static_cast<float>(i0 / 2) - low) / std::max(0.001f, high - low);
  return 1.0f - std::min(1.0f, std::max(0.0f, y));
}

float corr_dim(int n_rot, int n_ctx_orig, float n_rotations, float base) {
  return static_cast<float>(n_rot) *
         std::log(static_cast<float>(n_ctx_orig) / (n_rotations * 2.0f * 3.14159265358979323846f)) /
         (2.0f * std::log(base));
}

}  // namespace

void rope_cache(const RopeParams& p, float pos, float* cache) {
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  float theta = pos;
  for (int i0 = 0; i0 < p.n_rot; i0 += 2) {
    const float ff = p.freq_factors ? p.freq_factors[i0 / 2] : 1.0f;
    const float extrap = theta / ff;
    const float interp = p.freq_scale * extrap;
    float angle = interp;
    float mscale = p.attn_factor;
    if (p.ext_factor != 0.0f) {
      const float mix = yarn_ramp(p.corr_dims[0], p.corr_dims[1], i0) * p.ext_factor;
      angle = interp * (1 - mix) + extrap * mix;
      mscale *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
    cache[i0] = std::cos(angle) * mscale;
    cache[i0 + 1] = std::sin(angle) * mscale;
    theta *= theta_scale;
  }
}

void rope_apply(RopeMode mode, float* x, int64_t head_dim, int n_rot, const float* cache) {
  const int64_t rot = std::min<int64_t>(n_rot, head_dim);
  for (int64_t i0 = 0; i0 + 1 < rot; i0 += 2) {
    const float c = cache[i0], s = cache[i0 + 1];
    // NORMAL pairs neighbours; NEOX pairs dimension i with i + n_rot/2.
    const int64_t a = mode == RopeMode::Normal ? i0 : i0 / 2;
    const int64_t b = mode == RopeMode::Normal ? i0 + 1 : i0 / 2 + n_rot / 2;
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * c - x1 * s;
    x[b] = x0 * s + x1 * c;
  }
}

void rope_yarn_corr_dims(int n_rot, int n_ctx_orig, float freq_base, float beta_fast, float beta_slow,
                         float dims[2]) {
  const float start = std::floor(corr_dim(n_rot, n_ctx_orig, beta_fast, freq_base));
  const float end = std::ceil(corr_dim(n_rot, n_ctx_orig, beta_slow, freq_base));
  dims[0] = std::max(0.0f, start);
  dims[1] = std::min(static_cast<float>(n_rot - 1), end);
}

}  // namespace shortgpt::cpu
