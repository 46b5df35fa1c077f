// Negative log-likelihood of one token under a row of logits, the way
// llama-perplexity computes it (facts §4): the max in float, the sum of
// exp(l - max) in double, nll = -(l[tok] - max - log(sum)).
#pragma once

#include <cmath>
#include <cstdint>

namespace shortgpt {

inline double token_nll(const float* logits, int64_t n_vocab, int32_t token) {
  float mx = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) mx = logits[i] > mx ? logits[i] : mx;
  double sum = 0.0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += static_cast<double>(std::exp(logits[i] - mx));
  return -(static_cast<double>(logits[token] - mx) - std::log(sum));
}

}  // namespace shortgpt
