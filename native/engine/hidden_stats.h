// The hook sums of a scoring run, accumulated in double at block boundaries
// (DESIGN §1). x_i is the residual stream entering block i (x_0 = the scaled
// token embeddings), x_{i+1} the stream leaving it, before the final norm.
//
// Per block i (original indices, skipped blocks included: they leave x
// unchanged, so they score cos 1):
//   cos_sum[i]  = sum over rows of cos(x_i, x_{i+1})            -> BI = 1 - cos_sum/rows
//   rel_sum[i]  = sum over rows of ||x_{i+1} - x_i|| / ||x_{i+1}|| (relative magnitude)
// Per requested span n (spans[k]) and start block i <= n_layer - n:
//   span_cos[k][i], span_angle[k][i]  = sums over every row of cos(x_i, x_{i+n})
//                                       and arccos(cos)/pi
//   last_cos[k][i], last_angle[k][i]  = the same over the last row of each window
// rows / windows count what was summed, so batches (and calls) combine by
// adding. A zero-norm row counts as cos 1; nothing is NaN.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/backend.h"

namespace shortgpt {

struct HiddenStatsSums {
  int n_layer = 0;
  std::vector<int> spans;
  double rows = 0;
  double windows = 0;
  std::vector<double> cos_sum, rel_sum;  // [n_layer]
  // [spans.size()][n_layer], row-major
  std::vector<double> span_cos, span_angle, last_cos, last_angle;

  HiddenStatsSums() = default;
  HiddenStatsSums(int n_layer, std::vector<int> spans);

  int max_span() const;

  // Adds block `i`'s comparison of x_i with x_{i+1} over `rows` rows.
  void add_block(int i, const RowComparison& c, int64_t rows);
  // Adds span index k's comparison of x_i with x_{i+n} over all rows and the
  // last rows of the batch's sequences.
  void add_span(int k, int i, const RowComparison& c, const BatchLayout& batch);
  void add_counts(const BatchLayout& batch);
};

}  // namespace shortgpt
