// The weights a ModelConfig names, bound to the mapped file and checked once
// at open: every required tensor present, with the shape the config implies,
// in a type the CPU kernels read (ERR_MISSING_TENSOR, ERR_TENSOR_SHAPE,
// ERR_UNSUPPORTED_TYPE naming the tensor) — so nothing fails mid-run.
//
// Matrices stay in the mapped file in their own format (the matmul reads
// them in place). Small vectors (norm weights, biases, RoPE factors) are
// dequantized to f32 copies, whatever their stored type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/matmul.h"
#include "engine/mapped_file.h"
#include "engine/model_config.h"
#include "engine/tensor_table.h"

namespace shortgpt {

struct Matrix {
  cpu::WeightView w;  // n_in = elements per row, n_out = rows
  std::string name;
  bool present() const { return w.data != nullptr; }
};

using Vec = std::vector<float>;  // empty = absent

struct BlockWeights {
  Vec attn_norm;
  Matrix q, k, v, qkv;  // q/k/v, or qkv when fused
  Vec q_bias, k_bias, v_bias, qkv_bias;
  Matrix output;
  Vec output_bias;
  Vec q_norm, k_norm;
  Vec post_attn_norm;
  Vec ffn_norm;
  Matrix gate, up, down;  // gate absent: up is [gate | up]
  Vec gate_bias, up_bias, down_bias;
  Vec post_ffn_norm;
};

class ModelWeights {
 public:
  ModelWeights(const ModelConfig& config, const TensorTable& table, const MappedFile& file);

  // token_embd as stored: n_vocab rows of n_embd (read row by row for get_rows).
  const Matrix& token_embd() const { return token_embd_; }
  const Vec& output_norm() const { return output_norm_; }
  const Matrix& output() const { return output_; }
  const Vec& output_bias() const { return output_bias_; }
  const BlockWeights& block(int i) const { return blocks_[static_cast<size_t>(i)]; }
  // RoPE frequency divisors (n_rot/2 each); empty when the model has none.
  const Vec& rope_freq_factors() const { return rope_factors_; }
  const Vec& rope_factors_short() const { return rope_short_; }
  const Vec& rope_factors_long() const { return rope_long_; }

 private:
  Matrix token_embd_;
  Vec output_norm_;
  Matrix output_;
  Vec output_bias_;
  std::vector<BlockWeights> blocks_;
  Vec rope_factors_, rope_short_, rope_long_;
};

}  // namespace shortgpt
