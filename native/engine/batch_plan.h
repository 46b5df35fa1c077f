// How many sequences go into one batch under a memory budget (DESIGN §5):
// the budget covers the backend's per-token work buffers, the hidden states
// the hooks keep, and a fixed logits tile; a batch holds at most
// kMaxBatchTokens tokens, and at least one sequence always runs.
#pragma once

#include <algorithm>
#include <cstdint>

namespace shortgpt {

// Tokens in one batch at most, whatever the budget: past a few hundred rows the
// matmuls are at their peak (docs/BENCHMARKS.md, kernels: T=32 ≈ T=512), so a
// larger batch only adds memory. SmolLM2 scoring 64 × 256 tokens, 2 threads:
// 23.5–29.6 s with or without the cap (run-to-run noise), peak RSS 530 MiB
// uncapped, 287 MiB at 2048. llama.cpp's default n_batch is 2048 too.
inline constexpr int64_t kMaxBatchTokens = 2048;

struct BatchPlanInput {
  int64_t budget_bytes = 0;
  int64_t seq_len = 0;            // tokens per sequence (the longest)
  int64_t bytes_per_token = 0;    // backend work buffers
  int64_t state_row_bytes = 0;    // one hidden-state row
  int64_t states = 2;             // hidden states kept per token (work + hook copies)
  int64_t fixed_bytes = 0;        // logits tile and other per-call buffers
  int64_t max_tokens = kMaxBatchTokens;  // whole sequences up to this many tokens
};

inline int64_t sequences_per_batch(const BatchPlanInput& in) {
  const int64_t per_seq = std::max<int64_t>(1, in.seq_len * (in.bytes_per_token + in.states * in.state_row_bytes));
  const int64_t room = in.budget_bytes - in.fixed_bytes;
  const int64_t n = room > 0 ? room / per_seq : 0;
  const int64_t by_tokens = in.max_tokens / std::max<int64_t>(1, in.seq_len);
  return std::max<int64_t>(1, std::min(n, by_tokens));
}

// Rows of logits computed at once: a tile of at most `budget_bytes / 4`
// (a quarter of the budget), 1..256 rows.
inline int64_t logits_tile_rows(int64_t budget_bytes, int64_t n_vocab) {
  const int64_t rows = budget_bytes / 4 / std::max<int64_t>(1, n_vocab * 4);
  return std::max<int64_t>(1, std::min<int64_t>(256, rows));
}

}  // namespace shortgpt
