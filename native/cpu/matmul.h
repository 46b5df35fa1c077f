// The batched matmul at the core of prefill and scoring:
//
//   Y[T x n_out] = X[T x n_in] . W^T
//
// W is stored as ggml stores it: n_out rows of n_in elements, each row
// `row_bytes` long, in any format weight_type_supported() accepts; X and Y are
// row-major f32. X is first converted to the weight's activation format
// (activations.h: Q8_0 / Q8_1 / Q8_K / F16 / BF16 / F32, as llama.cpp's CPU
// backend does), once per call, then W is streamed tile by tile
// (gemm_generic.inl) on the engine's ThreadPool.
//
//   WeightView w{type, data, n_in, n_out, row_bytes};
//   matmul(w, x, T, y, pool);                      // active_simd_level()
//   matmul(w, x, T, y, pool, SimdLevel::Scalar);   // force a path (tests)
//
// Several weights that read the same input (Q/K/V, gate/up) can share one
// conversion: convert_activations() then matmul_converted() for each.
// A MatmulScratch kept by the caller saves the allocations between calls; it
// may be reused across any sequence of weights (formats, shapes, batch sizes)
// and gives the same bits as a fresh one. One call at a time per scratch.
//
// Results do not depend on the thread count (each output is computed by one
// task in a fixed order); they differ between SIMD levels only by float
// summation order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu/activations.h"
#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace shortgpt::cpu {

struct WeightView {
  int32_t type = 0;
  const uint8_t* data = nullptr;  // n_out rows; 2-byte aligned (fp16 fields are read in place)
  int64_t n_in = 0;               // elements per row
  int64_t n_out = 0;              // rows
  size_t row_bytes = 0;           // stride between rows, at least the packed row size
};

// Throws ERR_UNSUPPORTED_TYPE for a format the kernels cannot read and
// ERR_INVALID_ARG for an inconsistent shape.
void check_weight(const WeightView& w);

// Buffers reused across calls (activation rows and per-thread weight panels).
struct MatmulScratch {
  ActRows act;
  std::vector<std::vector<uint8_t>> panels;
};

void matmul(const WeightView& w, const float* x, int64_t T, float* y, ThreadPool& pool);
void matmul(const WeightView& w, const float* x, int64_t T, float* y, ThreadPool& pool, SimdLevel level,
            MatmulScratch* scratch = nullptr);

// X (T rows of n) converted to `fmt` into `out`.
void convert_activations(ActFormat fmt, const float* x, int64_t T, int64_t n, ActRows& out, ThreadPool& pool,
                         SimdLevel level);

// Y = converted X . W^T; `act` must be in activation_format(w.type) with n == w.n_in.
void matmul_converted(const WeightView& w, const ActView& act, float* y, ThreadPool& pool, SimdLevel level,
                      MatmulScratch* scratch = nullptr);

// Throws ERR_UNSUPPORTED_SIMD unless `level` is compiled in and the CPU has it.
void require_simd_level(SimdLevel level);

}  // namespace shortgpt::cpu
