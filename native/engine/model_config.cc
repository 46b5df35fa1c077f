#include "engine/model_config.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace shortgpt {

namespace {

[[noreturn]] void bad(const std::string& what) { throw NativeError("ERR_MODEL_CONFIG", "model config: " + what); }

void check_range(const char* name, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    bad(std::string(name) + " = " + std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  }
}

void check_finite(const char* name, float v) {
  if (!std::isfinite(v)) bad(std::string(name) + " is not a finite number");
}

}  // namespace

int ModelConfig::max_ff() const {
  int m = 0;
  for (const auto& b : blocks) m = std::max(m, b.n_ff);
  return m;
}

int ModelConfig::max_q_width() const {
  int m = 0;
  for (const auto& b : blocks) m = std::max(m, b.n_head * head_dim_k);
  return m;
}

int ModelConfig::max_kv_width() const {
  int m = 0;
  for (const auto& b : blocks) m = std::max(m, b.n_head_kv * std::max(head_dim_k, head_dim_v));
  return m;
}

int ModelConfig::max_attn_out() const {
  int m = 0;
  for (const auto& b : blocks) m = std::max(m, b.n_head * head_dim_v);
  return m;
}

void validate_model_config(const ModelConfig& c) {
  check_range("nEmbd", c.n_embd, 1, ModelLimits::kMaxEmbd);
  check_range("nVocab", c.n_vocab, 1, ModelLimits::kMaxVocab);
  check_range("nLayer", c.n_layer, 1, ModelLimits::kMaxLayers);
  check_range("headDimK", c.head_dim_k, 1, ModelLimits::kMaxHeadDim);
  check_range("headDimV", c.head_dim_v, 1, ModelLimits::kMaxHeadDim);
  if (static_cast<int>(c.blocks.size()) != c.n_layer) {
    bad("blocks has " + std::to_string(c.blocks.size()) + " entries, nLayer is " + std::to_string(c.n_layer));
  }
  check_finite("normEps", c.norm_eps);
  if (c.norm_eps < 0.0f) bad("normEps must not be negative");
  check_finite("embeddingScale", c.embedding_scale);
  check_finite("attentionScale", c.attention_scale);
  check_finite("attnSoftcap", c.attn_softcap);
  check_finite("finalSoftcap", c.final_softcap);
  if (c.attn_softcap < 0.0f || c.final_softcap < 0.0f) bad("softcaps must not be negative");
  check_range("slidingWindow", c.sliding_window, 0, 1 << 30);
  check_range("rope.nRot", c.rope.n_rot, 0, c.head_dim_k);
  if (c.rope.n_rot % 2 != 0) bad("rope.nRot must be even");
  if (c.rope.n_rot > c.head_dim_k) bad("rope.nRot exceeds headDimK");
  check_finite("rope.extFactor", c.rope.ext_factor);
  check_finite("rope.attnFactor", c.rope.attn_factor);
  check_finite("rope.betaFast", c.rope.beta_fast);
  check_finite("rope.betaSlow", c.rope.beta_slow);
  check_range("rope.nCtxOrig", c.rope.n_ctx_orig, 0, (int64_t(1) << 31) - 1);
  if (c.token_embd.empty() || c.output_norm.empty() || c.output.empty()) bad("tokenEmbd, outputNorm and output are required");
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockConfig& b = c.blocks[i];
    const std::string at = "blocks[" + std::to_string(i) + "].";
    check_range((at + "nHead").c_str(), b.n_head, 1, ModelLimits::kMaxHeads);
    check_range((at + "nHeadKv").c_str(), b.n_head_kv, 1, ModelLimits::kMaxHeads);
    if (b.n_head % b.n_head_kv != 0) bad(at + "nHead is not a multiple of nHeadKv");
    check_range((at + "nFf").c_str(), b.n_ff, 1, ModelLimits::kMaxFf);
    check_finite((at + "ropeBase").c_str(), b.rope_base);
    check_finite((at + "ropeFreqScale").c_str(), b.rope_freq_scale);
    if (b.rope_base <= 0.0f || b.rope_freq_scale <= 0.0f) bad(at + "ropeBase and ropeFreqScale must be positive");
    if (int64_t(b.n_head) * c.head_dim_k > ModelLimits::kMaxEmbd * 4) bad(at + "nHead x headDimK is too large");
    const BlockTensorNames& t = b.tensors;
    const bool separate = !t.q.empty() && !t.k.empty() && !t.v.empty();
    if (separate == !t.qkv.empty()) bad(at + "tensors need either q, k and v or a fused qkv");
    if (t.attn_norm.empty() || t.output.empty() || t.ffn_norm.empty() || t.up.empty() || t.down.empty()) {
      bad(at + "tensors need attnNorm, output, ffnNorm, up and down");
    }
    if (t.q_norm.empty() != t.k_norm.empty()) bad(at + "qNorm and kNorm come together");
    if (b.sliding_window && c.sliding_window == 0) bad(at + "slidingWindow is set but the model's window is 0");
  }
}

}  // namespace shortgpt
