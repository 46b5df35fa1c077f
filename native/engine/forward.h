// One batch through the model, block by block (DESIGN §5): embed every
// sequence, run block 0 over all of them, then block 1, ..., with blocks in the
// skip mask left out (identity: the residual stream passes unchanged, which is
// exactly what removing the block does) and every remaining block keeping its
// own index-dependent settings. Between blocks: a check that the state is
// finite (ERR_NON_FINITE names the block), the hooks and a cancellation
// check.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/hidden_stats.h"
#include "engine/mapped_file.h"

namespace shortgpt {

struct RunControl {
  const std::atomic<bool>* cancel = nullptr;
  // The mapped weights: a read that went past the end of a file that shrank
  // meanwhile (caught by the SIGBUS guard, zeros read) stops the run.
  const MappedFile* weights = nullptr;
  // Called after each block with the blocks finished so far in this batch.
  std::function<void(int blocks_done)> on_block;

  // Throws NativeError ABORT_ERR when cancelled, ERR_FILE_CHANGED when the
  // weights' file shrank under a read.
  void check() const;
};

// Throws ERR_NON_FINITE when rows [0, rows) of x hold a NaN or an infinity:
// after block `block`, or in the embeddings when block is -1.
void require_finite_state(Backend& backend, const HiddenState& x, int64_t rows, int block);

// Throws ERR_NON_FINITE when v[0..n) (logits, or a quantity computed from
// them) holds a NaN or an infinity; `what` says which.
void require_finite_logits(const float* v, size_t n, const char* what);

class ForwardPass {
 public:
  ForwardPass(Backend& backend, int n_layer) : backend_(backend), n_layer_(n_layer) {}

  // x <- the residual stream after the last block for `batch` (tokens are the
  // batch's rows). skip has n_layer entries (nonzero = skip). hooks may be null.
  void run(const BatchLayout& batch, const int32_t* tokens, const std::vector<uint8_t>& skip, HiddenStatsSums* hooks,
           const RunControl& control, HiddenState& x);

  // Hidden states kept per token when hooks with this max span are on (for batch planning).
  static int64_t states_for_hooks(int max_span) { return max_span + 2; }

 private:
  Backend& backend_;
  int n_layer_;
  std::vector<std::unique_ptr<HiddenState>> ring_;
  RowComparison step_;  // x_{j-1} vs x_j
  RowComparison span_;  // x_{j-n} vs x_j
};

}  // namespace shortgpt
