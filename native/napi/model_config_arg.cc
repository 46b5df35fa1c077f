#include "napi/model_config_arg.h"

#include <cmath>
#include <string>

#include "napi/js_error.h"

namespace shortgpt {

namespace {

class Fields {
 public:
  Fields(Napi::Env env, const Napi::Value& value, std::string where) : env_(env), where_(std::move(where)) {
    if (!value.IsObject()) throw invalid_arg(env, where_ + " must be an object");
    obj_ = value.As<Napi::Object>();
  }

  Napi::Value get(const char* key) const { return obj_.Get(key); }

  std::string path(const char* key) const { return where_ + "." + key; }

  int integer(const char* key) const {
    const int64_t v = to_i64(env_, get(key), path(key).c_str());
    if (v < -(int64_t(1) << 31) || v > (int64_t(1) << 31) - 1) throw invalid_arg(env_, path(key) + " is out of range");
    return static_cast<int>(v);
  }

  int64_t integer64(const char* key) const { return to_i64(env_, get(key), path(key).c_str()); }

  float number(const char* key) const {
    Napi::Value v = get(key);
    if (!v.IsNumber()) throw invalid_arg(env_, path(key) + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) throw invalid_arg(env_, path(key) + " must be finite");
    return static_cast<float>(d);
  }

  bool boolean(const char* key) const {
    Napi::Value v = get(key);
    if (!v.IsBoolean()) throw invalid_arg(env_, path(key) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  std::string string(const char* key) const {
    Napi::Value v = get(key);
    if (!v.IsString()) throw invalid_arg(env_, path(key) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }

  // "" when undefined.
  std::string optional_string(const char* key) const {
    Napi::Value v = get(key);
    if (v.IsUndefined() || v.IsNull()) return "";
    if (!v.IsString()) throw invalid_arg(env_, path(key) + " must be a string");
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s.empty()) throw invalid_arg(env_, path(key) + " must not be empty");
    return s;
  }

 private:
  Napi::Env env_;
  std::string where_;
  Napi::Object obj_;
};

BlockTensorNames block_tensors(Napi::Env env, const Napi::Value& v, const std::string& where) {
  Fields f(env, v, where);
  BlockTensorNames t;
  t.attn_norm = f.string("attnNorm");
  t.q = f.optional_string("q");
  t.k = f.optional_string("k");
  t.v = f.optional_string("v");
  t.qkv = f.optional_string("qkv");
  t.q_bias = f.optional_string("qBias");
  t.k_bias = f.optional_string("kBias");
  t.v_bias = f.optional_string("vBias");
  t.qkv_bias = f.optional_string("qkvBias");
  t.output = f.string("output");
  t.output_bias = f.optional_string("outputBias");
  t.q_norm = f.optional_string("qNorm");
  t.k_norm = f.optional_string("kNorm");
  t.post_attn_norm = f.optional_string("postAttnNorm");
  t.ffn_norm = f.string("ffnNorm");
  t.gate = f.optional_string("gate");
  t.up = f.string("up");
  t.down = f.string("down");
  t.gate_bias = f.optional_string("gateBias");
  t.up_bias = f.optional_string("upBias");
  t.down_bias = f.optional_string("downBias");
  t.post_ffn_norm = f.optional_string("postFfnNorm");
  return t;
}

}  // namespace

ModelConfig model_config_from_js(Napi::Env env, const Napi::Value& value) {
  Fields f(env, value, "config");
  ModelConfig c;
  c.architecture = f.string("architecture");
  c.n_embd = f.integer("nEmbd");
  c.n_vocab = f.integer("nVocab");
  c.n_layer = f.integer("nLayer");
  c.head_dim_k = f.integer("headDimK");
  c.head_dim_v = f.integer("headDimV");
  c.norm_eps = f.number("normEps");
  c.embedding_scale = f.number("embeddingScale");
  c.attention_scale = f.number("attentionScale");
  c.query_pre_scale = f.boolean("queryPreScale");
  c.attn_softcap = f.number("attnSoftcap");
  c.final_softcap = f.number("finalSoftcap");
  c.sliding_window = f.integer("slidingWindow");
  const std::string act = f.string("ffnActivation");
  if (act == "silu") c.ffn_activation = FfnActivation::Silu;
  else if (act == "gelu") c.ffn_activation = FfnActivation::Gelu;
  else throw invalid_arg(env, "config.ffnActivation must be 'silu' or 'gelu'");

  Fields rope(env, f.get("rope"), "config.rope");
  const std::string type = rope.string("type");
  if (type == "norm") c.rope.type = RopeType::Norm;
  else if (type == "neox") c.rope.type = RopeType::Neox;
  else throw invalid_arg(env, "config.rope.type must be 'norm' or 'neox'");
  c.rope.n_rot = rope.integer("nRot");
  c.rope.ext_factor = rope.number("extFactor");
  c.rope.attn_factor = rope.number("attnFactor");
  c.rope.beta_fast = rope.number("betaFast");
  c.rope.beta_slow = rope.number("betaSlow");
  c.rope.n_ctx_orig = rope.integer64("nCtxOrig");
  c.rope.freq_factors = rope.optional_string("freqFactors");
  c.rope.freq_factors_short = rope.optional_string("freqFactorsShort");
  c.rope.freq_factors_long = rope.optional_string("freqFactorsLong");

  c.token_embd = f.string("tokenEmbd");
  c.output_norm = f.string("outputNorm");
  c.output = f.string("output");
  c.output_bias = f.optional_string("outputBias");

  Napi::Value blocks = f.get("blocks");
  if (!blocks.IsArray()) throw invalid_arg(env, "config.blocks must be an array");
  Napi::Array arr = blocks.As<Napi::Array>();
  if (arr.Length() > static_cast<uint32_t>(ModelLimits::kMaxLayers)) {
    throw invalid_arg(env, "config.blocks has more than " + std::to_string(ModelLimits::kMaxLayers) + " entries");
  }
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string where = "config.blocks[" + std::to_string(i) + "]";
    Fields b(env, arr.Get(i), where);
    BlockConfig bc;
    bc.n_head = b.integer("nHead");
    bc.n_head_kv = b.integer("nHeadKv");
    bc.n_ff = b.integer("nFf");
    bc.sliding_window = b.boolean("slidingWindow");
    bc.rope_base = b.number("ropeBase");
    bc.rope_freq_scale = b.number("ropeFreqScale");
    bc.tensors = block_tensors(env, b.get("tensors"), where + ".tensors");
    c.blocks.push_back(std::move(bc));
  }
  return c;
}

}  // namespace shortgpt
