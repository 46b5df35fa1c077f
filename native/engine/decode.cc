#include "engine/decode.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "common/error.h"
#include "engine/forward.h"

namespace shortgpt {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// The first index of the largest logit (llama.cpp's greedy sampler keeps the
// first maximum it meets). NaN never compares greater, so it is never chosen
// unless every logit is NaN.
int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

}  // namespace

GenerateResult generate_greedy(Backend& backend, const ModelConfig& config, const GenerateRequest& request,
                               const GenerateControl& control) {
  const int64_t P = static_cast<int64_t>(request.prompt.size());
  if (P < 1) throw NativeError("ERR_INVALID_ARG", "the prompt needs at least one token");
  if (request.max_tokens < 1) throw NativeError("ERR_INVALID_ARG", "maxTokens must be at least 1");
  const int L = config.n_layer;
  const int64_t V = config.n_vocab;
  std::vector<int32_t> stop = request.stop;
  std::sort(stop.begin(), stop.end());

  RunControl run;  // the same cancellation check (and AbortError) as a batch run
  run.cancel = control.cancel;
  run.weights = control.weights;

  GenerateResult result;
  std::vector<float> logits(static_cast<size_t>(V));
  auto cache = backend.new_kv_cache(request.skip, P + request.max_tokens - 1);
  auto x = backend.new_state(P);

  // Runs the rows of x (positions pos0 .. pos0+n-1) through every kept block
  // and returns the greedy token of the last row.
  auto forward = [&](int64_t pos0, int64_t n) {
    for (int layer = 0; layer < L; ++layer) {
      run.check();
      if (!request.skip[static_cast<size_t>(layer)]) {
        backend.run_block_cached(layer, pos0, n, *cache, *x);
        require_finite_state(backend, *x, n, layer);
      }
    }
    run.check();
    const int64_t last = n - 1;
    backend.logits(*x, &last, 1, logits.data());
    require_finite_logits(logits.data(), logits.size(), "the logits");
    if (request.keep_logits) result.logits.insert(result.logits.end(), logits.begin(), logits.end());
    return argmax(logits.data(), V);
  };

  auto start = Clock::now();
  backend.embed(request.prompt.data(), P, *x);
  require_finite_state(backend, *x, P, -1);
  int32_t token = forward(0, P);
  result.prefill_seconds = seconds_since(start);

  start = Clock::now();
  for (;;) {
    if (std::binary_search(stop.begin(), stop.end(), token)) {
      result.stopped = true;
      break;
    }
    result.tokens.push_back(token);
    if (control.on_token) control.on_token(token, static_cast<int64_t>(result.tokens.size()));
    if (static_cast<int64_t>(result.tokens.size()) >= request.max_tokens) break;
    // The token just sampled goes in at the next position.
    backend.embed(&token, 1, *x);
    token = forward(P + result.decode_steps, 1);
    ++result.decode_steps;
  }
  result.decode_seconds = seconds_since(start);
  result.kv_cache_bytes = cache->bytes();
  return result;
}

}  // namespace shortgpt
