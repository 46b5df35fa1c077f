// Greedy generation with a KV cache, on any backend (backend.h):
//
//   prefill   the prompt in one batch from position 0 (the batched attention
//             kernels, as llama.cpp processes a prompt), K and V of every
//             kept block stored in the cache; logits of the last row;
//   decode    one token at a time: embed the last sampled token, run every
//             kept block against the cache (llama.cpp's one-query-row
//             kernel), logits of that row, argmax.
//
// Sampling is greedy: the highest logit, the lowest id on ties (llama.cpp's
// greedy sampler). Blocks in the skip mask run as identity and keep no cache.
// Generation ends after max_tokens tokens or when a stop token (the
// vocabulary's end-of-generation tokens, as TypeScript passes them) is
// sampled; the stop token is not part of the output.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/backend.h"
#include "engine/mapped_file.h"
#include "engine/model_config.h"

namespace shortgpt {

struct GenerateRequest {
  std::vector<int32_t> prompt;     // at least one token, ids checked by the caller
  int64_t max_tokens = 0;          // >= 1
  std::vector<int32_t> stop;       // sampled ids that end generation
  std::vector<uint8_t> skip;       // n_layer entries, checked by the caller
  bool keep_logits = false;        // return the logits each token was chosen from
};

struct GenerateResult {
  std::vector<int32_t> tokens;
  bool stopped = false;            // a stop token was sampled
  double prefill_seconds = 0;      // prompt through every block, logits, first token
  double decode_seconds = 0;       // every later forward pass and its token
  int64_t decode_steps = 0;        // forward passes of one token (tokens sampled - 1)
  int64_t kv_cache_bytes = 0;      // what the cache held at the end
  std::vector<float> logits;       // keep_logits: one n_vocab row per sampled token (the stop token's too)
};

struct GenerateControl {
  const std::atomic<bool>* cancel = nullptr;  // checked between blocks: NativeError ABORT_ERR
  const MappedFile* weights = nullptr;        // checked between blocks: ERR_FILE_CHANGED (forward.h)
  // After each token joins the output (count = tokens so far).
  std::function<void(int32_t token, int64_t count)> on_token;
};

// The sequence runs under a context of prompt + max_tokens - 1 positions
// (the last token sampled is never fed back): the cache grows up to that,
// as far as the tokens actually generated need.
GenerateResult generate_greedy(Backend& backend, const ModelConfig& config, const GenerateRequest& request,
                               const GenerateControl& control);

}  // namespace shortgpt
