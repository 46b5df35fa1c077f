// The block-level interface every backend implements (DESIGN §4-5): a batch
// of independent sequences lives in one [tokens x n_embd] hidden state owned
// by the backend (host memory for the CPU, device memory for a GPU); the
// driver (forward.h) embeds it, runs block 0 over all of it, then block 1, ...,
// reads the per-row hook values between blocks, and asks for logits of the
// rows it needs. A CUDA backend implements the same calls on the device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace shortgpt {

// S sequences concatenated row after row; sequence s holds rows
// [starts[s], starts[s+1]) at positions 0, 1, ... (each starts at position 0).
struct BatchLayout {
  std::vector<int64_t> starts{0};

  int64_t sequences() const { return static_cast<int64_t>(starts.size()) - 1; }
  int64_t tokens() const { return starts.back(); }
  int64_t length(int64_t s) const { return starts[static_cast<size_t>(s) + 1] - starts[static_cast<size_t>(s)]; }
  int64_t max_length() const {
    int64_t m = 0;
    for (int64_t s = 0; s < sequences(); ++s) m = length(s) > m ? length(s) : m;
    return m;
  }
  void add(int64_t length) { starts.push_back(starts.back() + length); }
};

// A [tokens x n_embd] hidden state, wherever the backend keeps it.
class HiddenState {
 public:
  virtual ~HiddenState() = default;
};

// Per-row comparison of two hidden states a (before) and b (after):
// cos(a, b) and ||b - a|| / ||b||, computed in double.
struct RowComparison {
  std::vector<double> cos;
  std::vector<double> rel_change;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // A state for `rows` rows (contents undefined).
  virtual std::unique_ptr<HiddenState> new_state(int64_t rows) = 0;
  virtual void copy_state(const HiddenState& from, HiddenState& to, int64_t rows) = 0;

  // x[r] = embedding of tokens[r] (times the model's embedding scale).
  virtual void embed(const int32_t* tokens, int64_t rows, HiddenState& x) = 0;

  // x <- block `layer` applied to every sequence of the batch (causal
  // attention within each sequence, positions from 0).
  virtual void run_block(int layer, const BatchLayout& batch, HiddenState& x) = 0;

  // Per-row cos and relative change between a and b, rows [0, rows).
  virtual void compare_rows(const HiddenState& a, const HiddenState& b, int64_t rows, RowComparison& out) = 0;

  // Logits of the given rows: final norm, output matrix (+ bias), final
  // softcap; out is [n_rows x n_vocab].
  virtual void logits(const HiddenState& x, const int64_t* rows, int64_t n_rows, float* out) = 0;

  // Bytes of working memory run_block needs per token of a batch whose
  // longest sequence is max_len (the driver sizes batches with it).
  virtual int64_t bytes_per_token(int64_t max_len) const = 0;
  virtual int64_t bytes_per_state_row() const = 0;
};

}  // namespace shortgpt
