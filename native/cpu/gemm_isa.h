// The contract between the portable matmul driver (matmul.cc) and each
// instruction-set implementation (scalar in matmul_scalar.cc, AVX2 in
// gemm_avx2.cc, AVX-512 in gemm_avx512.cc). Only plain structs and functions
// cross it: the ISA files are compiled with -mavx2 / -mavx512*, and sharing
// inline library code with them could let the linker hand AVX instructions to
// a CPU without them.
//
// Work is split into tasks of (a tile of weight rows) x (a chunk of
// activation rows); each output element is computed by exactly one task,
// with the same operation order whatever the thread count, so results do not
// depend on how many threads ran.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/act_view.h"

namespace shortgpt::cpu {

// Activation rows per task: enough that unpacking a weight tile is amortized,
// few enough that a prefill of a few hundred tokens still splits across cores.
constexpr int64_t kTileT = 128;

struct GemmArgs {
  int32_t type = 0;
  const uint8_t* w = nullptr;  // n_out rows of row_bytes
  size_t row_bytes = 0;
  int64_t n_in = 0;
  int64_t n_out = 0;
  ActView act;         // T = act.rows, already converted to the weight's activation format
  float* y = nullptr;  // [T][n_out]
};

// One implementation. `convert_rows` fills rows [r0, r1) of `a` from x
// (row-major, n values each); identical bits on every ISA.
struct GemmIsa {
  const char* name;
  void (*convert_rows)(const float* x, const ActView& a, int64_t r0, int64_t r1);
  int64_t (*task_count)(const GemmArgs& g);
  size_t (*scratch_bytes)(const GemmArgs& g);  // per worker
  void (*run_task)(const GemmArgs& g, int64_t task, uint8_t* scratch);
};

// The scalar reference (always present).
const GemmIsa& gemm_isa_scalar();

// Present when the build compiled the x86 SIMD files (SHORTGPT_HAVE_X86_SIMD);
// call only when cpu_features() reports the level.
namespace avx2 {
const GemmIsa& gemm_isa();
void convert_rows(const float* x, const ActView& a, int64_t r0, int64_t r1);
}  // namespace avx2

namespace avx512 {
const GemmIsa& gemm_isa();
}  // namespace avx512

}  // namespace shortgpt::cpu
