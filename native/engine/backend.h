// The block-level interface every backend implements (DESIGN §4-5): a batch
// of independent sequences lives in one [tokens x n_embd] hidden state owned
// by the backend (host memory for the CPU, device memory for a GPU); the
// driver (forward.h) embeds it, runs block 0 over all of it, then block 1, ...,
// reads the per-row hook values between blocks, and asks for logits of the
// rows it needs. A CUDA backend implements the same calls on the device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"

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

// Per-block K and V of one sequence for incremental decoding, wherever the
// backend keeps them (host memory for the CPU, device memory for a GPU).
// Cell c of a block holds the K and V rows of position c. Blocks in the skip
// mask it was made with hold nothing. Storage grows with the cells written,
// never beyond max_cells().
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int64_t max_cells() const = 0;
  // Bytes the cache holds now (all blocks, K and V).
  virtual int64_t bytes() const = 0;
};

// What a GPU backend runs on, for engine.info (a CPU backend has none).
struct DeviceInfo {
  int index = 0;
  std::string name;
  int64_t total_memory = 0;
  int compute_major = 0, compute_minor = 0;
  int driver_version = 0;   // CUDA's encoding, e.g. 13000 for 13.0
  int runtime_version = 0;
  int cublas_version = 0;   // major * 10000 + minor * 100 + patch
  std::string cublas_path;  // the library that was loaded
  int64_t peak_bytes = 0;   // the most device memory this backend held at once
  int resident_blocks = 0;  // blocks whose weights stay in device memory
  int streamed_blocks = 0;  // blocks copied in from host memory for each batch
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

  // False when rows [0, rows) of x hold a NaN or an infinity. The driver
  // checks after the embeddings and after every block (forward.h), so a
  // model with non-finite weights fails naming the block (ERR_NON_FINITE)
  // instead of yielding scores computed from NaN. It must be cheap next to a
  // block (one pass over the state). A backend that cannot check may keep
  // this default: the engine still refuses non-finite logits, without naming
  // the block.
  virtual bool all_finite(const HiddenState& x, int64_t rows) {
    (void)x;
    (void)rows;
    return true;
  }

  // A cache for one sequence of at most max_cells positions, holding the
  // blocks not set in `skip` (n_layer entries). max_cells is also the
  // context size the sequence runs under (llama.cpp's n_ctx, which picks
  // phi3's long or short RoPE factors).
  // A backend without decoding support refuses (the default).
  virtual std::unique_ptr<KvCache> new_kv_cache(const std::vector<uint8_t>& skip, int64_t max_cells) {
    throw NativeError("ERR_UNSUPPORTED_DEVICE", std::string("the ") + name() + " backend cannot decode with a KV cache");
  }

  // x (n rows: one sequence at positions pos0 .. pos0+n-1) <- block `layer`,
  // whose K and V for those positions go to cells pos0.. of `cache`; queries
  // attend to cells [0, pos0 + n) (causal, sliding window). pos0 == 0 is a
  // prefill and computes exactly what run_block computes for a one-sequence
  // batch; pos0 > 0 (decoding) uses llama.cpp's one-query-row kernel.
  virtual void run_block_cached(int layer, int64_t pos0, int64_t n, KvCache& cache, HiddenState& x) {
    throw NativeError("ERR_UNSUPPORTED_DEVICE", std::string("the ") + name() + " backend cannot decode with a KV cache");
  }

  // Bytes of working memory run_block needs per token of a batch whose
  // longest sequence is max_len (the driver sizes batches with it).
  virtual int64_t bytes_per_token(int64_t max_len) const = 0;
  virtual int64_t bytes_per_state_row() const = 0;

  // The bytes batch planning may spend on work buffers and states, given the
  // engine's memory budget: a CPU backend spends host memory (the budget); a
  // GPU backend spends what device memory its weights leave.
  virtual int64_t batch_budget(int64_t memory_budget) const { return memory_budget; }

  // Fills `out` and returns true when the backend runs on a device.
  virtual bool device_info(DeviceInfo& out) const { return false; }
};

}  // namespace shortgpt
