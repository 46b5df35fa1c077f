// The portable matmul: every output is one scalar vec_dot (vec_dot.cc) of a
// weight row and an activation row. The reference the SIMD paths are tested
// against, and the path on CPUs (or builds) without AVX2.
#include <algorithm>

#include "cpu/activations.h"
#include "cpu/gemm_isa.h"
#include "cpu/vec_dot.h"

namespace shortgpt::cpu {

namespace {

constexpr int64_t kScalarTileRows = 16;

int64_t scalar_task_count(const GemmArgs& g) {
  return (g.n_out + kScalarTileRows - 1) / kScalarTileRows * ((g.act.rows + kTileT - 1) / kTileT);
}

size_t scalar_scratch_bytes(const GemmArgs&) { return 0; }

void scalar_run_task(const GemmArgs& g, int64_t task, uint8_t*) {
  const int64_t tiles = (g.n_out + kScalarTileRows - 1) / kScalarTileRows;
  const int64_t o0 = (task % tiles) * kScalarTileRows, o1 = std::min(g.n_out, o0 + kScalarTileRows);
  const int64_t t0 = (task / tiles) * kTileT, t1 = std::min(g.act.rows, t0 + kTileT);
  const VecDotFn dot = vec_dot_for(g.type);
  for (int64_t o = o0; o < o1; ++o) {
    const uint8_t* row = g.w + static_cast<size_t>(o) * g.row_bytes;
    for (int64_t t = t0; t < t1; ++t) g.y[t * g.n_out + o] = dot(row, act_row(g.act, t), g.n_in);
  }
}

void scalar_convert_rows(const float* x, const ActView& a, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) convert_act_row_scalar(x + r * a.n, a, r);
}

}  // namespace

const GemmIsa& gemm_isa_scalar() {
  static const GemmIsa isa{"scalar", scalar_convert_rows, scalar_task_count, scalar_scratch_bytes, scalar_run_task};
  return isa;
}

}  // namespace shortgpt::cpu
