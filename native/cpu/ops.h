// Small named kernels of the forward pass, each on one row of n floats, with
// the numerics of llama.cpp's CPU backend (ggml-cpu ops.cpp / vec.h) where it
// matters for matching its results. Every kernel has a scalar reference; the
// ones that cost enough to matter (softmax, SiLU/SwiGLU, RMSNorm, fp16
// conversion) also have AVX2 / AVX-512 versions, picked by `level`
// (default: active_simd_level()). Output may alias input unless noted.
//
// RoPE lives in rope.h.
#pragma once

#include <cstdint>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace shortgpt::cpu {

// y = x * (1 / sqrt(mean(x^2) + eps)) [* w]: the sum of squares in double,
// mean and scale in float, then x*scale, then times w (separate roundings,
// as ggml's rms_norm followed by mul). w may be null.
void rmsnorm(float* y, const float* x, const float* w, int64_t n, float eps);
void rmsnorm(float* y, const float* x, const float* w, int64_t n, float eps, SimdLevel level);

// y = (x - mean) / sqrt(var + eps) [* w] [+ b]; mean and variance summed in
// double (ggml's norm). w and b may be null.
void layernorm(float* y, const float* x, const float* w, const float* b, int64_t n, float eps);

// y = softmax(x * scale + mask): max, then exp(v - max) summed in double,
// then times (float)(1/sum). mask may be null (-INFINITY entries mask out).
// A row with every value -inf gives all zeros instead of NaN.
void softmax(float* y, const float* x, int64_t n, float scale, const float* mask);
void softmax(float* y, const float* x, int64_t n, float scale, const float* mask, SimdLevel level);

// y = cap * tanh(x / cap) (gemma2's logit soft-capping).
void softcap(float* y, const float* x, int64_t n, float cap);

// SiLU x / (1 + exp(-x)); the SIMD versions use a polynomial exp within 2 ulp of expf.
void silu(float* y, const float* x, int64_t n);
void silu(float* y, const float* x, int64_t n, SimdLevel level);
// SwiGLU: y = silu(gate) * up.
void swiglu(float* y, const float* gate, const float* up, int64_t n);
void swiglu(float* y, const float* gate, const float* up, int64_t n, SimdLevel level);

// GELU, tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))), in float.
void gelu(float* y, const float* x, int64_t n);
// What llama.cpp's CPU backend computes for GELU (GGML_GELU_FP16): x <= -10
// gives 0, x >= 10 gives x, otherwise x is rounded to f16 and looked up in a
// table of gelu(h) for all 65536 halves (each result rounded to f16).
void gelu_f16_table(float* y, const float* x, int64_t n);
// GeGLU: y = gelu(gate) * up, with gelu_f16_table (llama.cpp CPU) or exact tanh GELU.
void geglu(float* y, const float* gate, const float* up, int64_t n, bool f16_table = true);

// Element-wise.
void add(float* y, const float* a, const float* b, int64_t n);
void mul(float* y, const float* a, const float* b, int64_t n);
void scale(float* y, const float* x, float s, int64_t n);

// Conversions, round-to-nearest-even (fp16.h). round_f16 is f32 -> f16 -> f32:
// what llama.cpp's F16 KV cache stores.
void f32_to_f16(uint16_t* y, const float* x, int64_t n);
void f32_to_f16(uint16_t* y, const float* x, int64_t n, SimdLevel level);
void f16_to_f32(float* y, const uint16_t* x, int64_t n);
void f16_to_f32(float* y, const uint16_t* x, int64_t n, SimdLevel level);
void f32_to_bf16(uint16_t* y, const float* x, int64_t n);
void bf16_to_f32(float* y, const uint16_t* x, int64_t n);
void round_f16(float* y, const float* x, int64_t n);
void round_f16(float* y, const float* x, int64_t n, SimdLevel level);

// FLOP/s of independent f32 fused multiply-adds in the widest vectors of
// `level`, on every thread of `pool` for about `seconds`: the arithmetic peak
// that benchmark tables compare matmul throughput with.
double fma_peak_flops(ThreadPool& pool, SimdLevel level, double seconds);

}  // namespace shortgpt::cpu
