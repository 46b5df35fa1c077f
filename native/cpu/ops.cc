#include "cpu/ops.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>

#include "cpu/fp16.h"
#include "cpu/matmul.h"
#include "cpu/ops_isa.h"

// Two roundings where ggml has two (x*scale, then +mask; x*s, then *w): no
// fused multiply-add contraction (clang contracts by default on arm64).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace shortgpt::cpu {

namespace {

constexpr float kGeluCoefA = 0.044715f;
constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;

void rmsnorm_scalar(float* y, const float* x, const float* w, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float s = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] * w[i];
  }
}

void softmax_scalar(float* y, const float* x, int64_t n, float scale, const float* mask) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i] * scale;
    if (mask) v = v + mask[i];
    y[i] = v;
    max = std::fmax(max, v);
  }
  if (max == -INFINITY) {
    std::memset(y, 0, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = std::exp(y[i] - max);
    sum += static_cast<double>(y[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

inline float silu1(float v) { return v / (1.0f + std::exp(-v)); }

void silu_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu1(x[i]);
}

void swiglu_scalar(float* y, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = silu1(gate[i]) * up[i];
}

void f32_to_f16_scalar(uint16_t* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

void f16_to_f32_scalar(float* y, const uint16_t* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

void round_f16_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = round_to_fp16(x[i]);
}

// Scalar FMA chains for the peak probe (what a CPU without SIMD can do).
double fma_burn_scalar(int64_t iters, float* sink) {
  float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const float b = 0.999f, c = 1e-4f;
  for (int64_t k = 0; k < iters; ++k) {
    for (float& v : a) v = std::fma(v, b, c);
  }
  float s = 0;
  for (float v : a) s += v;
  *sink = s;
  return 16.0 * static_cast<double>(iters);
}

const OpsIsa kScalar = {rmsnorm_scalar,    softmax_scalar,    silu_scalar,      swiglu_scalar,
                        f32_to_f16_scalar, f16_to_f32_scalar, round_f16_scalar, fma_burn_scalar};

float gelu1(float x) { return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kGeluCoefA * x * x))); }

// gelu(h) rounded to f16 for every half h, built on first use and never
// changed after (immutable shared state, safe across threads and contexts).
const uint16_t* gelu_table() {
  static const std::unique_ptr<uint16_t[]> table = [] {
    std::unique_ptr<uint16_t[]> t(new uint16_t[1 << 16]);
    for (uint32_t i = 0; i < (1u << 16); ++i) t[i] = fp32_to_fp16(gelu1(fp16_to_fp32(static_cast<uint16_t>(i))));
    return t;
  }();
  return table.get();
}

inline float gelu_f16_1(const uint16_t* table, float x) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return fp16_to_fp32(table[fp32_to_fp16(x)]);
}

// The table for a level (validated: the build and the CPU must have it).
const OpsIsa& ops_for(SimdLevel level) {
  require_simd_level(level);
#ifdef SHORTGPT_HAVE_X86_SIMD
  if (level == SimdLevel::Avx512) return avx512::ops_isa();
  if (level == SimdLevel::Avx2) return avx2::ops_isa();
#endif
  return kScalar;
}

}  // namespace

void rmsnorm(float* y, const float* x, const float* w, int64_t n, float eps, SimdLevel level) {
  ops_for(level).rmsnorm(y, x, w, n, eps);
}
void rmsnorm(float* y, const float* x, const float* w, int64_t n, float eps) {
  rmsnorm(y, x, w, n, eps, active_simd_level());
}

void layernorm(float* y, const float* x, const float* w, const float* b, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double sum2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] - mean;
    y[i] = v;
    sum2 += static_cast<double>(v * v);
  }
  const float var = static_cast<float>(sum2 / static_cast<double>(n));
  const float s = 1.0f / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] * s;
  if (w) {
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] * w[i];
  }
  if (b) {
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] + b[i];
  }
}

void softmax(float* y, const float* x, int64_t n, float scale, const float* mask, SimdLevel level) {
  ops_for(level).softmax(y, x, n, scale, mask);
}
void softmax(float* y, const float* x, int64_t n, float scale, const float* mask) {
  softmax(y, x, n, scale, mask, active_simd_level());
}

void softcap(float* y, const float* x, int64_t n, float cap) {
  // ggml: scale by 1/cap, tanh, scale by cap.
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i] * inv) * cap;
}

void silu(float* y, const float* x, int64_t n, SimdLevel level) { ops_for(level).silu(y, x, n); }
void silu(float* y, const float* x, int64_t n) { silu(y, x, n, active_simd_level()); }

void swiglu(float* y, const float* gate, const float* up, int64_t n, SimdLevel level) {
  ops_for(level).swiglu(y, gate, up, n);
}
void swiglu(float* y, const float* gate, const float* up, int64_t n) {
  swiglu(y, gate, up, n, active_simd_level());
}

void gelu(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = gelu1(x[i]);
}

void gelu_f16_table(float* y, const float* x, int64_t n) {
  const uint16_t* table = gelu_table();
  for (int64_t i = 0; i < n; ++i) y[i] = gelu_f16_1(table, x[i]);
}

void geglu(float* y, const float* gate, const float* up, int64_t n, bool f16_table) {
  if (f16_table) {
    const uint16_t* table = gelu_table();
    for (int64_t i = 0; i < n; ++i) {
      const float g = gate[i];
      // ggml_vec_geglu_f32: 0 below -10, gate * up above 10, table otherwise.
      y[i] = g <= -10.0f ? 0.0f : g >= 10.0f ? g * up[i] : fp16_to_fp32(table[fp32_to_fp16(g)]) * up[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = gelu1(gate[i]) * up[i];
  }
}

void add(float* y, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

void mul(float* y, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void scale(float* y, const float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
}

void f32_to_f16(uint16_t* y, const float* x, int64_t n, SimdLevel level) { ops_for(level).f32_to_f16(y, x, n); }
void f32_to_f16(uint16_t* y, const float* x, int64_t n) { f32_to_f16(y, x, n, active_simd_level()); }
void f16_to_f32(float* y, const uint16_t* x, int64_t n, SimdLevel level) { ops_for(level).f16_to_f32(y, x, n); }
void f16_to_f32(float* y, const uint16_t* x, int64_t n) { f16_to_f32(y, x, n, active_simd_level()); }

void f32_to_bf16(uint16_t* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}

void bf16_to_f32(float* y, const uint16_t* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

void round_f16(float* y, const float* x, int64_t n, SimdLevel level) { ops_for(level).round_f16(y, x, n); }
void round_f16(float* y, const float* x, int64_t n) { round_f16(y, x, n, active_simd_level()); }

double fma_peak_flops(ThreadPool& pool, SimdLevel level, double seconds) {
  const OpsIsa& isa = ops_for(level);
  const int threads = pool.size();
  std::unique_ptr<double[]> flops(new double[static_cast<size_t>(threads)]());
  const auto start = std::chrono::steady_clock::now();
  pool.parallel_for(threads, [&](int64_t task, int) {
    float sink = 0.0f;
    double done = 0.0;
    // Short bursts until the time is up, so every thread stops at about the same moment.
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
      done += isa.fma_burn(1 << 16, &sink);
    }
    flops[static_cast<size_t>(task)] = done + (sink == 12345.0f ? 1.0 : 0.0);
  });
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double total = 0.0;
  for (int t = 0; t < threads; ++t) total += flops[static_cast<size_t>(t)];
  return total / elapsed;
}

}  // namespace shortgpt::cpu
