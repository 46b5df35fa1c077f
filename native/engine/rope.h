// Rotary position embedding for the engine: per-position cos/sin tables for
// one RoPE setting (base, frequency scale, frequency factors), built with
// the kernels of cpu/rope.h (llama.cpp's ggml_rope_cache_init numerics) and
// cached so blocks that share a setting share the table and positions are
// computed once per call rather than once per head.
//
// NORM rotates pairs (2i, 2i+1); NEOX rotates (i, i + n_rot/2). Dimensions
// at or above n_rot pass through.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_config.h"

namespace shortgpt {

struct RopeSetting {
  float base = 10000.0f;
  float freq_scale = 1.0f;
  const float* factors = nullptr;  // n_rot/2 divisors, or null

  bool operator==(const RopeSetting& o) const {
    return base == o.base && freq_scale == o.freq_scale && factors == o.factors;
  }
};

class ModelWeights;

// Block `layer`'s setting for sequences of up to `context` tokens: its base and
// frequency scale, and the frequency factors the file holds (llama3's
// rope_freqs, or phi3's longrope factors: the long ones only when the
// sequences exceed the training context). Every backend asks this, so they
// rotate alike.
RopeSetting rope_setting(const ModelConfig& config, const ModelWeights& weights, int layer, int64_t context);

class RopeTable {
 public:
  RopeTable(const RopeConfig& rope, const RopeSetting& setting) : rope_(rope), setting_(setting) {}

  const RopeSetting& setting() const { return setting_; }

  // Makes positions [0, n) available.
  void reserve(int64_t n);

  // Rotates one head vector of head_dim values at position pos (< reserved).
  void apply(float* x, int64_t head_dim, int64_t pos) const;

  // The table itself, [pos][n_rot] (cos, sin) pairs for the positions
  // reserved: what a GPU backend copies to the device, so both sides rotate
  // with the same numbers.
  const float* data() const { return cs_.data(); }
  int64_t positions() const { return n_pos_; }
  int n_rot() const { return rope_.n_rot; }

 private:
  RopeConfig rope_;
  RopeSetting setting_;
  int64_t n_pos_ = 0;
  std::vector<float> cs_;  // [pos][n_rot]: (cos, sin) pairs
};

}  // namespace shortgpt
