// The model the engine runs, as TypeScript resolved it (src/arch/model-config.ts):
// plain numbers, per-block values and tensor names. The native side never
// reads GGUF metadata; it checks these values against its own limits
// (validate_model_config) and the tensors against the mapped file
// (model_weights.h) before anything runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shortgpt {

enum class RopeType { Norm, Neox };
enum class FfnActivation { Silu, Gelu };

// Tensor names of one block; an empty name means "absent".
struct BlockTensorNames {
  std::string attn_norm;
  std::string q, k, v, qkv;
  std::string q_bias, k_bias, v_bias, qkv_bias;
  std::string output, output_bias;
  std::string q_norm, k_norm;
  std::string post_attn_norm;
  std::string ffn_norm;
  std::string gate, up, down;  // gate empty: `up` holds [gate | up] (phi3)
  std::string gate_bias, up_bias, down_bias;
  std::string post_ffn_norm;
};

struct BlockConfig {
  int n_head = 0;
  int n_head_kv = 0;
  int n_ff = 0;
  bool sliding_window = false;  // decided by the block's original index
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  BlockTensorNames tensors;
};

struct RopeConfig {
  RopeType type = RopeType::Norm;
  int n_rot = 0;
  float ext_factor = 0.0f;
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  int64_t n_ctx_orig = 0;
  std::string freq_factors;        // llama3 rope_freqs.weight
  std::string freq_factors_short;  // phi3 longrope
  std::string freq_factors_long;
};

struct ModelConfig {
  std::string architecture;
  int n_embd = 0;
  int n_vocab = 0;
  int n_layer = 0;
  int head_dim_k = 0;
  int head_dim_v = 0;
  float norm_eps = 0.0f;
  float embedding_scale = 1.0f;
  float attention_scale = 1.0f;
  bool query_pre_scale = false;
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;
  int sliding_window = 0;
  FfnActivation ffn_activation = FfnActivation::Silu;
  RopeConfig rope;
  std::string token_embd;
  std::string output_norm;
  std::string output;
  std::string output_bias;
  std::vector<BlockConfig> blocks;

  int max_ff() const;
  int max_q_width() const;   // n_head * head_dim_k over blocks
  int max_kv_width() const;  // n_head_kv * max(head_dim_k, head_dim_v)
  int max_attn_out() const;  // n_head * head_dim_v
};

// Limits the engine accepts, each with its reason. Values beyond them are
// refused with ERR_MODEL_CONFIG before any allocation sized by them.
struct ModelLimits {
  static constexpr int kMaxLayers = 512;        // LLAMA_MAX_LAYERS
  static constexpr int kMaxEmbd = 1 << 16;      // above every released model (Llama 405B: 16384)
  static constexpr int kMaxHeads = 1024;
  static constexpr int kMaxHeadDim = 1024;
  static constexpr int kMaxFf = 1 << 20;
  static constexpr int kMaxVocab = 1 << 22;     // 4M tokens; real vocabularies stay below 300k
};

// Throws NativeError ERR_MODEL_CONFIG naming the first inconsistent value.
void validate_model_config(const ModelConfig& c);

}  // namespace shortgpt
