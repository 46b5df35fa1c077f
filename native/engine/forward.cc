#include "engine/forward.h"

#include <string>

#include "common/error.h"
#include "engine/finite.h"

namespace shortgpt {

void RunControl::check() const {
  if (cancel && cancel->load(std::memory_order_relaxed)) {
    throw NativeError("ABORT_ERR", "The operation was aborted");
  }
  if (weights) weights->check_not_tripped();
}

void require_finite_state(Backend& backend, const HiddenState& x, int64_t rows, int block) {
  if (backend.all_finite(x, rows)) return;
  if (block < 0) {
    throw NativeError("ERR_NON_FINITE", "the token embeddings hold NaN or infinite values: the model's token_embd weights are broken");
  }
  throw NativeError("ERR_NON_FINITE", "the hidden state after block " + std::to_string(block) +
                                          " holds NaN or infinite values: that block's weights hold NaN/Inf or its "
                                          "activations overflow (a broken conversion or quantization?)");
}

void require_finite_logits(const float* v, size_t n, const char* what) {
  if (finite_values(v, n)) return;
  throw NativeError("ERR_NON_FINITE", std::string(what) + " hold NaN or infinite values: the output weights (output, "
                                                          "output_norm) hold NaN/Inf or the activations overflow");
}

void ForwardPass::run(const BatchLayout& batch, const int32_t* tokens, const std::vector<uint8_t>& skip,
                      HiddenStatsSums* hooks, const RunControl& control, HiddenState& x) {
  const int64_t rows = batch.tokens();
  control.check();
  backend_.embed(tokens, rows, x);
  require_finite_state(backend_, x, rows, -1);

  // Hooks keep x_{j-n} for every requested span n: a ring of the last
  // max_span + 1 boundary states (x_j goes to slot j % R).
  const int R = hooks ? hooks->max_span() + 1 : 0;
  if (hooks) {
    while (static_cast<int>(ring_.size()) < R) ring_.push_back(backend_.new_state(rows));
    backend_.copy_state(x, *ring_[0], rows);
    hooks->add_counts(batch);
  }
  for (int i = 0; i < n_layer_; ++i) {
    control.check();
    if (!skip[static_cast<size_t>(i)]) {
      backend_.run_block(i, batch, x);
      require_finite_state(backend_, x, rows, i);
    }
    if (hooks) {
      const int j = i + 1;  // boundary after block i: x is x_j
      const HiddenState& prev = *ring_[static_cast<size_t>((j - 1) % R)];
      backend_.compare_rows(prev, x, rows, step_);
      hooks->add_block(i, step_, rows);
      for (size_t k = 0; k < hooks->spans.size(); ++k) {
        const int n = hooks->spans[k];
        if (n > j) continue;
        if (n == 1) {
          hooks->add_span(static_cast<int>(k), j - 1, step_, batch);
        } else {
          backend_.compare_rows(*ring_[static_cast<size_t>((j - n) % R)], x, rows, span_);
          hooks->add_span(static_cast<int>(k), j - n, span_, batch);
        }
      }
      backend_.copy_state(x, *ring_[static_cast<size_t>(j % R)], rows);
    }
    if (control.on_block) control.on_block(i + 1);
  }
}

}  // namespace shortgpt
