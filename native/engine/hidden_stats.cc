#include "engine/hidden_stats.h"

#include <algorithm>
#include <cmath>

namespace shortgpt {

namespace {

constexpr double kPi = 3.14159265358979323846;

// The cos values are already clamped to [-1, 1] by the backend.
double angle_of(double c) { return std::acos(std::min(1.0, std::max(-1.0, c))) / kPi; }

}  // namespace

HiddenStatsSums::HiddenStatsSums(int n_layer_, std::vector<int> spans_)
    : n_layer(n_layer_), spans(std::move(spans_)) {
  const size_t L = static_cast<size_t>(n_layer);
  cos_sum.assign(L, 0.0);
  rel_sum.assign(L, 0.0);
  span_cos.assign(spans.size() * L, 0.0);
  span_angle.assign(spans.size() * L, 0.0);
  last_cos.assign(spans.size() * L, 0.0);
  last_angle.assign(spans.size() * L, 0.0);
}

int HiddenStatsSums::max_span() const {
  int m = 1;
  for (int n : spans) m = std::max(m, n);
  return m;
}

void HiddenStatsSums::add_block(int i, const RowComparison& c, int64_t rows) {
  // Row order, one double each: the same sums whatever the batch size.
  double cs = cos_sum[static_cast<size_t>(i)];
  double rs = rel_sum[static_cast<size_t>(i)];
  for (int64_t r = 0; r < rows; ++r) {
    cs += c.cos[static_cast<size_t>(r)];
    rs += c.rel_change[static_cast<size_t>(r)];
  }
  cos_sum[static_cast<size_t>(i)] = cs;
  rel_sum[static_cast<size_t>(i)] = rs;
}

void HiddenStatsSums::add_span(int k, int i, const RowComparison& c, const BatchLayout& batch) {
  const size_t at = static_cast<size_t>(k) * static_cast<size_t>(n_layer) + static_cast<size_t>(i);
  double cs = span_cos[at], as = span_angle[at];
  for (int64_t r = 0; r < batch.tokens(); ++r) {
    const double v = c.cos[static_cast<size_t>(r)];
    cs += v;
    as += angle_of(v);
  }
  span_cos[at] = cs;
  span_angle[at] = as;
  double lc = last_cos[at], la = last_angle[at];
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    const double v = c.cos[static_cast<size_t>(batch.starts[static_cast<size_t>(s) + 1] - 1)];
    lc += v;
    la += angle_of(v);
  }
  last_cos[at] = lc;
  last_angle[at] = la;
}

void HiddenStatsSums::add_counts(const BatchLayout& batch) {
  rows += static_cast<double>(batch.tokens());
  windows += static_cast<double>(batch.sequences());
}

}  // namespace shortgpt
