#include "cpu/matmul.h"

#include <string>

#include "common/error.h"
#include "cpu/gemm_isa.h"
#include "cpu/weight_types.h"

namespace shortgpt::cpu {

namespace {

const GemmIsa& isa_for(SimdLevel level) {
  require_simd_level(level);
#ifdef SHORTGPT_HAVE_X86_SIMD
  if (level == SimdLevel::Avx512) return avx512::gemm_isa();
  if (level == SimdLevel::Avx2) return avx2::gemm_isa();
#endif
  return gemm_isa_scalar();
}

// Rows converted per task: conversion is cheap, so only large batches split.
constexpr int64_t kConvertRows = 16;

// Below this many multiply-adds (tens of microseconds on one core) a matmul
// runs on the calling thread: waking workers costs about as much, and on a
// machine whose cores are busy it can cost far more.
constexpr double kSerialMacs = 2e6;

}  // namespace

void require_simd_level(SimdLevel level) {
  if (!simd_level_compiled(level)) {
    throw NativeError("ERR_UNSUPPORTED_SIMD",
                      std::string("this build has no ") + simd_level_name(level) + " kernels");
  }
  if (static_cast<int>(level) > static_cast<int>(cpu_features().best)) {
    throw NativeError("ERR_UNSUPPORTED_SIMD", std::string("this CPU does not support ") + simd_level_name(level));
  }
}

void check_weight(const WeightView& w) {
  if (w.n_in < 0 || w.n_out < 0) throw NativeError("ERR_INVALID_ARG", "negative weight shape");
  const int64_t packed = weight_row_bytes(w.type, w.n_in);  // type and n_in checks
  if (w.row_bytes < static_cast<size_t>(packed)) {
    throw NativeError("ERR_INVALID_ARG", "row_bytes " + std::to_string(w.row_bytes) + " is below the " +
                                             std::to_string(packed) + " bytes a row of " +
                                             std::to_string(w.n_in) + " elements needs");
  }
  if (w.n_out > 0 && w.n_in > 0 && !w.data) throw NativeError("ERR_INVALID_ARG", "weight data is null");
}

void convert_activations(ActFormat fmt, const float* x, int64_t T, int64_t n, ActRows& out, ThreadPool& pool,
                         SimdLevel level) {
  const GemmIsa& isa = isa_for(level);
  out.allocate(fmt, T, n);
  const ActView& a = out.view();
  if (static_cast<double>(T) * static_cast<double>(n) < kSerialMacs) {
    isa.convert_rows(x, a, 0, T);
    return;
  }
  const int64_t tasks = (T + kConvertRows - 1) / kConvertRows;
  pool.parallel_for(tasks, [&](int64_t task, int) {
    const int64_t r0 = task * kConvertRows;
    const int64_t r1 = r0 + kConvertRows < T ? r0 + kConvertRows : T;
    isa.convert_rows(x, a, r0, r1);
  });
}

void matmul_converted(const WeightView& w, const ActView& act, float* y, ThreadPool& pool, SimdLevel level,
                      MatmulScratch* scratch) {
  check_weight(w);
  if (act.format != activation_format(w.type) || act.n != w.n_in) {
    throw NativeError("ERR_INVALID_ARG", std::string("activations are ") + act_format_name(act.format) + " x " +
                                             std::to_string(act.n) + ", the weight needs " +
                                             act_format_name(activation_format(w.type)) + " x " +
                                             std::to_string(w.n_in));
  }
  if (act.rows == 0 || w.n_out == 0) return;
  const GemmIsa& isa = isa_for(level);
  GemmArgs g;
  g.type = w.type;
  g.w = w.data;
  g.row_bytes = w.row_bytes;
  g.n_in = w.n_in;
  g.n_out = w.n_out;
  g.act = act;
  g.y = y;
  if (w.n_in == 0) {
    for (int64_t i = 0; i < act.rows * w.n_out; ++i) y[i] = 0.0f;
    return;
  }
  MatmulScratch local;
  MatmulScratch& s = scratch ? *scratch : local;
  const size_t bytes = isa.scratch_bytes(g);
  if (s.panels.size() < static_cast<size_t>(pool.size())) s.panels.resize(static_cast<size_t>(pool.size()));
  for (auto& p : s.panels) {
    if (p.size() < bytes + 64) p.resize(bytes + 64);
  }
  auto run = [&](int64_t task, int worker) {
    uint8_t* base = s.panels[static_cast<size_t>(worker)].data();
    base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
    isa.run_task(g, task, base);
  };
  const int64_t tasks = isa.task_count(g);
  if (static_cast<double>(act.rows) * static_cast<double>(w.n_in) * static_cast<double>(w.n_out) < kSerialMacs) {
    for (int64_t task = 0; task < tasks; ++task) run(task, 0);
  } else {
    pool.parallel_for(tasks, run);
  }
}

void matmul(const WeightView& w, const float* x, int64_t T, float* y, ThreadPool& pool, SimdLevel level,
            MatmulScratch* scratch) {
  check_weight(w);
  if (T < 0) throw NativeError("ERR_INVALID_ARG", "negative T");
  MatmulScratch local;
  MatmulScratch& s = scratch ? *scratch : local;
  convert_activations(activation_format(w.type), x, T, w.n_in, s.act, pool, level);
  matmul_converted(w, s.act.view(), y, pool, level, &s);
}

void matmul(const WeightView& w, const float* x, int64_t T, float* y, ThreadPool& pool) {
  matmul(w, x, T, y, pool, active_simd_level());
}

}  // namespace shortgpt::cpu
