// Causal self-attention on the CPU over a batch of independent sequences,
// computed the way llama.cpp's CPU flash attention computes it, so logits
// agree with llama.cpp's where the models are numerically touchy:
//
//   sequences of 64 tokens or more: the tiled kernel (64 x 64 tiles, f32 Q,
//     K and V as the cache holds them, online softmax, f32 accumulator);
//   shorter ones: the one-chunk kernel (Q rounded to f16 for the product,
//     one key at a time, V accumulated in f16).
//
// For each query row t and head h (KV head h / (n_head / n_head_kv)):
// s_j = softcap(scale * q_t.k_j) over keys j <= t (and t - j < window for a
// sliding-window block), o_t = softmax(s) . V. With an F16 cache K and V
// hold fp16-rounded values; with F32 they are used as they are.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"
#include "engine/attention_kernels.h"
#include "engine/backend.h"

namespace shortgpt {

struct AttentionParams {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim_k = 0;
  int head_dim_v = 0;
  float kq_scale = 1.0f;
  float softcap = 0.0f;  // 0 = off
  int64_t window = 0;    // 0 = full causal
  bool f16_cache = true;  // K and V rounded to fp16, as llama.cpp's default cache
};

struct AttentionInput {
  const float* q = nullptr;  // row t: head h at q + t*q_stride + h*head_dim_k
  int64_t q_stride = 0;
  const float* k = nullptr;  // row t: KV head g at k + t*k_stride + g*head_dim_k
  int64_t k_stride = 0;
  const float* v = nullptr;
  int64_t v_stride = 0;
  float* out = nullptr;  // row t: head h at out + t*out_stride + h*head_dim_v
  int64_t out_stride = 0;
};

class CpuAttention {
 public:
  explicit CpuAttention(SimdLevel level);

  void run(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in, cpu::ThreadPool& pool);

  // Working memory per token of a batch (the packed K and V tiles).
  static int64_t bytes_per_token(const AttentionParams& p);

 private:
  void pack(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in, cpu::ThreadPool& pool);
  void tiled_task(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in, int64_t seq, int head,
                  int64_t row0, int worker);
  void one_chunk_row(const BatchLayout& batch, const AttentionParams& p, const AttentionInput& in, int64_t seq,
                     int head, int64_t t);

  const AttnKernels& kernels_;
  // Per (sequence, KV head): K transposed in 64-cell tiles, [tile][dk][64],
  // and V as [cells rounded up to 64][dv], zero beyond the sequence.
  std::vector<float> kt_, vp_;
  std::vector<int64_t> seq_tiles_;  // first tile index of each sequence
  struct Scratch {
    std::vector<float> q, s, acc;
  };
  std::vector<Scratch> scratch_;
};

}  // namespace shortgpt
