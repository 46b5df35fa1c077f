#include "cpu/activations.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "cpu/fp16.h"

namespace shortgpt::cpu {

namespace {

constexpr size_t kAlign = 64;

size_t aligned_size(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// round-half-even under the default rounding mode: the same as
// _mm256_round_ps(_MM_ROUND_NEAREST) and ggml's nearest_int.
inline int round_even(float v) { return static_cast<int>(std::lrintf(v)); }

// One block of 32 as llama.cpp's x86 quantize_row_q8_0 does it; returns the
// unrounded d (Q8_1 needs it for s).
float quantize_block_q8_0(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int j = 0; j < kQK32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int j = 0; j < kQK32; ++j) q[j] = static_cast<int8_t>(round_even(x[j] * id));
  return d;
}

// One super-block of 256 as quantize_row_q8_K_ref; returns d.
float quantize_block_q8_K(const float* x, int8_t* q, int16_t* bsums) {
  float max = 0.0f, amax = 0.0f;
  for (int j = 0; j < kQKK; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax == 0.0f) {
    std::memset(q, 0, kQKK);
    std::memset(bsums, 0, kQKK / 16 * sizeof(int16_t));
    return 0.0f;
  }
  const float iscale = -127.0f / max;
  for (int j = 0; j < kQKK; ++j) {
    const int v = round_even(iscale * x[j]);
    q[j] = static_cast<int8_t>(v < 127 ? v : 127);
  }
  for (int j = 0; j < kQKK / 16; ++j) {
    int sum = 0;
    for (int l = 0; l < 16; ++l) sum += q[16 * j + l];
    bsums[j] = static_cast<int16_t>(sum);
  }
  return 1.0f / iscale;
}

int block_sum(const int8_t* q, int n) {
  int s = 0;
  for (int j = 0; j < n; ++j) s += q[j];
  return s;
}

}  // namespace

void ActRows::allocate(ActFormat fmt, int64_t rows, int64_t n) {
  if (rows < 0 || n < 0) throw NativeError("ERR_INVALID_ARG", "negative activation shape");
  const bool k_format = fmt == ActFormat::Q8_K;
  if (k_format && n % kQKK != 0) throw NativeError("ERR_INVALID_ARG", "Q8_K rows must be a multiple of 256");
  ActView v;
  v.format = fmt;
  v.rows = rows;
  v.n = n;
  v.n_pad = round_up(n, kActRowAlign);
  const bool integer = fmt == ActFormat::Q8_0 || fmt == ActFormat::Q8_1 || k_format;
  const size_t r = static_cast<size_t>(rows), np = static_cast<size_t>(v.n_pad);
  size_t sizes[6] = {0, 0, 0, 0, 0, 0};  // qs, d, corr, bsums, f, h
  if (integer) {
    v.d_stride = v.n_pad / (k_format ? kQKK : kQK32);
    v.corr_stride = round_up(v.n_pad / (k_format ? 16 : kQK32), 16);
    sizes[0] = r * np;
    sizes[1] = r * static_cast<size_t>(v.d_stride) * sizeof(float);
    sizes[2] = r * static_cast<size_t>(v.corr_stride) * sizeof(float);
    if (k_format) {
      v.bsums_stride = v.n_pad / 16;
      sizes[3] = r * static_cast<size_t>(v.bsums_stride) * sizeof(int16_t);
    }
  } else {
    sizes[4] = r * np * sizeof(float);
    if (fmt == ActFormat::BF16) sizes[5] = r * np * sizeof(uint16_t);
  }
  size_t total = 0;
  for (size_t s : sizes) total += aligned_size(s);
  if (total + kAlign > capacity_) {
    storage_.reset(new uint8_t[total + kAlign]);
    capacity_ = total + kAlign;
  }
  uint8_t* base = storage_.get();
  base += (kAlign - reinterpret_cast<uintptr_t>(base) % kAlign) % kAlign;
  std::memset(base, 0, total);
  uint8_t* p[6];
  for (int i = 0; i < 6; ++i) {
    p[i] = sizes[i] ? base : nullptr;
    base += aligned_size(sizes[i]);
  }
  v.qs = reinterpret_cast<int8_t*>(p[0]);
  v.d = reinterpret_cast<float*>(p[1]);
  v.corr = reinterpret_cast<float*>(p[2]);
  v.bsums = reinterpret_cast<int16_t*>(p[3]);
  v.f = reinterpret_cast<float*>(p[4]);
  v.h = reinterpret_cast<uint16_t*>(p[5]);
  view_ = v;
}

void convert_act_row_scalar(const float* x, const ActView& a, int64_t row) {
  const int64_t n = a.n;
  switch (a.format) {
    case ActFormat::F32: {
      float* f = a.f + row * a.n_pad;
      std::memcpy(f, x, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    case ActFormat::F16: {
      float* f = a.f + row * a.n_pad;
      for (int64_t i = 0; i < n; ++i) f[i] = round_to_fp16(x[i]);
      return;
    }
    case ActFormat::BF16: {
      float* f = a.f + row * a.n_pad;
      uint16_t* h = a.h + row * a.n_pad;
      for (int64_t i = 0; i < n; ++i) {
        h[i] = fp32_to_bf16(x[i]);
        f[i] = bf16_to_fp32(h[i]);
      }
      return;
    }
    case ActFormat::Q8_0:
    case ActFormat::Q8_1: {
      int8_t* q = a.qs + row * a.n_pad;
      float* d = a.d + row * a.d_stride;
      float* corr = a.corr + row * a.corr_stride;
      for (int64_t b = 0; b < n / kQK32; ++b) {
        const float dr = quantize_block_q8_0(x + kQK32 * b, q + kQK32 * b);
        const int sum = block_sum(q + kQK32 * b, kQK32);
        d[b] = round_to_fp16(dr);
        corr[b] = a.format == ActFormat::Q8_1 ? round_to_fp16(dr * static_cast<float>(sum))
                                              : d[b] * static_cast<float>(sum);
      }
      return;
    }
    case ActFormat::Q8_K: {
      int8_t* q = a.qs + row * a.n_pad;
      float* d = a.d + row * a.d_stride;
      float* corr = a.corr + row * a.corr_stride;
      int16_t* bs = a.bsums + row * a.bsums_stride;
      for (int64_t b = 0; b < n / kQKK; ++b) {
        d[b] = quantize_block_q8_K(x + kQKK * b, q + kQKK * b, bs + 16 * b);
        for (int j = 0; j < 16; ++j) corr[16 * b + j] = d[b] * static_cast<float>(bs[16 * b + j]);
      }
      return;
    }
  }
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b) y[b].d = fp32_to_fp16(quantize_block_q8_0(x + kQK32 * b, y[b].qs));
}

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK32; ++b) {
    const float d = quantize_block_q8_0(x + kQK32 * b, y[b].qs);
    y[b].d = fp32_to_fp16(d);
    y[b].s = fp32_to_fp16(d * static_cast<float>(block_sum(y[b].qs, kQK32)));
  }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQKK; ++b) y[b].d = quantize_block_q8_K(x + kQKK * b, y[b].qs, y[b].bsums);
}

}  // namespace shortgpt::cpu
