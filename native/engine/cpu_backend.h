// The CPU backend: one transformer block over every sequence of a batch,
// on the kernels of native/cpu (matmul with llama.cpp-style activation
// quantization) and the engine's own row ops, on a thread pool owned by this
// instance.
//
//   x -> rms_norm -> Q K V (+bias) -> [QK-norm] -> RoPE -> round Q K V to f16
//     -> causal attention (GQA, sliding window, softcap) -> output (+bias)
//     -> [post-attention norm] -> x += ...
//     -> rms_norm -> gate, up -> SwiGLU | GeGLU -> down (+bias)
//     -> [post-FFN norm] -> x += ...
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/matmul.h"
#include "cpu/thread_pool.h"
#include "engine/attention.h"
#include "engine/backend.h"
#include "engine/cached_attention.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/rope.h"

namespace shortgpt {

enum class KvPrecision { F16, F32 };

struct CpuBackendOptions {
  int threads = 1;
  // F16: K and V are rounded to fp16 like llama.cpp's default KV cache
  // (attention.h). F32: no rounding.
  KvPrecision kv = KvPrecision::F16;
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options);

  const char* name() const override { return "cpu"; }
  int threads() const { return pool_.size(); }
  SimdLevel simd() const { return level_; }

  std::unique_ptr<HiddenState> new_state(int64_t rows) override;
  void copy_state(const HiddenState& from, HiddenState& to, int64_t rows) override;
  void embed(const int32_t* tokens, int64_t rows, HiddenState& x) override;
  void run_block(int layer, const BatchLayout& batch, HiddenState& x) override;
  std::unique_ptr<KvCache> new_kv_cache(const std::vector<uint8_t>& skip, int64_t max_cells) override;
  void run_block_cached(int layer, int64_t pos0, int64_t n, KvCache& cache, HiddenState& x) override;
  void compare_rows(const HiddenState& a, const HiddenState& b, int64_t rows, RowComparison& out) override;
  bool all_finite(const HiddenState& x, int64_t rows) override;
  void logits(const HiddenState& x, const int64_t* rows, int64_t n_rows, float* out) override;
  int64_t bytes_per_token(int64_t max_len) const override;
  int64_t bytes_per_state_row() const override;

  // Time spent per step since construction (profiling; seconds).
  struct Profile {
    double norm = 0, qkv = 0, rope = 0, attention = 0, out_proj = 0, ffn_up = 0, ffn_act = 0, ffn_down = 0,
           residual = 0, logits = 0, embed = 0;
  };
  const Profile& profile() const { return profile_; }
  void reset_profile() { profile_ = Profile{}; }

 private:
  // Y = X . W^T, sharing one conversion of X between weights of the same activation format.
  void project(const Matrix& w, const float* x, int64_t T, float* y, bool reuse_conversion);
  void prepare_positions(const BatchLayout& batch);
  // The block's RoPE table with positions [0, positions) ready; `context` is
  // the context size that picks phi3's long or short factors.
  const RopeTable& rope_for(int layer, int64_t positions, int64_t context);
  // Attention step of a block: q, k, v of every row are ready (RoPE'd, biased).
  using AttendFn = std::function<void(const AttentionParams&, const AttentionInput&)>;
  // One block over T rows at positions_[0..T): everything but the attention,
  // which `attend` does (batched, or against a KV cache).
  void block_forward(int layer, int64_t T, const RopeTable& rope, HiddenState& x, const AttendFn& attend);
  void grow(std::vector<float>& buf, int64_t n);

  const ModelConfig& config_;
  const ModelWeights& weights_;
  KvPrecision kv_;
  cpu::ThreadPool pool_;
  SimdLevel level_;
  CpuAttention attention_;
  const CachedAttnKernels& cached_kernels_;
  cpu::MatmulScratch mm_;
  cpu::ActFormat converted_format_ = cpu::ActFormat::F32;
  const float* converted_from_ = nullptr;
  bool converted_valid_ = false;
  std::vector<std::unique_ptr<RopeTable>> ropes_;
  std::vector<int64_t> positions_;
  // Per-token work buffers.
  std::vector<float> xn_, q_, k_, v_, qkv_, attn_, o_, gate_, up_, h_, logits_in_;
  Profile profile_;
};

}  // namespace shortgpt
