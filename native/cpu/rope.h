// Rotary position embedding as ggml computes it (ggml-cpu ops.cpp
// ggml_rope_cache_init / rope_yarn): per position, theta_i = pos * base^(-2i/n_rot)
// built by repeated multiplication in float (theta *= theta_scale, not a pow
// per dimension), divided by the optional per-dimension frequency factor,
// scaled by freq_scale, with YaRN's ramp when ext_factor != 0; then
// cos/sin times attn_factor (mscale).
//
//   float cache[n_rot];                         // (cos, sin) pairs for one position
//   rope_cache(params, pos, cache);
//   rope_apply(RopeMode::Neox, q_head, head_dim, params.n_rot, cache);  // each head
//
// NORMAL rotates pairs (2i, 2i+1); NEOX rotates (i, i + n_rot/2). Dimensions
// at or beyond n_rot pass through unchanged.
#pragma once

#include <cstdint>

namespace shortgpt::cpu {

enum class RopeMode { Normal, Neox };

struct RopeParams {
  int n_rot = 0;                         // rotated dimensions (even)
  float freq_base = 10000.0f;            // rope.freq_base
  float freq_scale = 1.0f;               // 1 / rope.scaling.factor
  const float* freq_factors = nullptr;   // n_rot/2 divisors (rope_freqs.weight), or null
  float ext_factor = 0.0f;               // YaRN extrapolation mix; 0 disables YaRN
  float attn_factor = 1.0f;              // magnitude scale (mscale)
  float corr_dims[2] = {0.0f, 0.0f};     // YaRN correction range (rope_yarn_corr_dims)
};

// cache[2i] = cos(theta_i) * mscale, cache[2i+1] = sin(theta_i) * mscale, i < n_rot/2.
void rope_cache(const RopeParams& p, float pos, float* cache);

// Rotates one head of head_dim values in place with a cache from rope_cache.
void rope_apply(RopeMode mode, float* x, int64_t head_dim, int n_rot, const float* cache);

// ggml_rope_yarn_corr_dims: the dimension range YaRN ramps over, for the
// original context length and the beta_fast / beta_slow rotation counts.
void rope_yarn_corr_dims(int n_rot, int n_ctx_orig, float freq_base, float beta_fast, float beta_slow,
                         float dims[2]);

}  // namespace shortgpt::cpu
