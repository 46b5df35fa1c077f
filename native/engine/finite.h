// Finite-value checks for the engine's non-finite detection (ERR_NON_FINITE):
// a model with NaN or infinite weights (a broken conversion or quantization)
// must fail with an error, not turn into scores of 0 or a perplexity of NaN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shortgpt {

// True when none of v[0..n) is NaN or infinite: exactly those floats have
// every exponent bit set. An integer test with no early exit, so compilers
// vectorize it (one pass at memory speed).
inline bool finite_values(const float* v, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

}  // namespace shortgpt
