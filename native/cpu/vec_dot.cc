#include "cpu/vec_dot.h"

#include "common/ggml_type.h"
#include "cpu/fp16.h"
#include "cpu/quant_decode.h"
#include "cpu/weight_types.h"

namespace shortgpt::cpu {

ActRowRef act_row(const ActView& a, int64_t row) {
  ActRowRef r{};
  if (a.qs) r.qs = a.qs + row * a.n_pad;
  if (a.d) r.d = a.d + row * a.d_stride;
  if (a.corr) r.corr = a.corr + row * a.corr_stride;
  if (a.bsums) r.bsums = a.bsums + row * a.bsums_stride;
  if (a.f) r.f = a.f + row * a.n_pad;
  return r;
}

namespace {

int dot_u8_s8(const uint8_t* u, const int8_t* x, int n) {
  int s = 0;
  for (int j = 0; j < n; ++j) s += u[j] * x[j];
  return s;
}

int dot_s8_s8(const int8_t* a, const int8_t* b, int n) {
  int s = 0;
  for (int j = 0; j < n; ++j) s += a[j] * b[j];
  return s;
}

// The float weights accumulate in double, as ggml's scalar ggml_vec_dot_f16 does.
template <class Load>
float dot_float(Load w, const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(w(i) * x[i]);
  return static_cast<float>(sum);
}

}  // namespace

float vec_dot_f32_f32(const float* w, const ActRowRef& x, int64_t n) {
  return dot_float([w](int64_t i) { return w[i]; }, x.f, n);
}

float vec_dot_f16_f16(const uint16_t* w, const ActRowRef& x, int64_t n) {
  return dot_float([w](int64_t i) { return fp16_to_fp32(w[i]); }, x.f, n);
}

float vec_dot_bf16_bf16(const uint16_t* w, const ActRowRef& x, int64_t n) {
  return dot_float([w](int64_t i) { return bf16_to_fp32(w[i]); }, x.f, n);
}

float vec_dot_q4_0_q8_0(const BlockQ4_0* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQK32];
  for (int64_t b = 0; b < n / kQK32; ++b) {
    decode_nibbles32(w[b].qs, u);
    const int8_t* q = x.qs + kQK32 * b;
    int isum = 0;
    for (int j = 0; j < kQK32; ++j) isum += (u[j] - 8) * q[j];
    sum += static_cast<float>(isum) * fp16_to_fp32(w[b].d) * x.d[b];
  }
  return sum;
}

float vec_dot_q4_1_q8_1(const BlockQ4_1* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQK32];
  for (int64_t b = 0; b < n / kQK32; ++b) {
    decode_nibbles32(w[b].qs, u);
    const int isum = dot_u8_s8(u, x.qs + kQK32 * b, kQK32);
    sum += fp16_to_fp32(w[b].d) * x.d[b] * static_cast<float>(isum) + fp16_to_fp32(w[b].m) * x.corr[b];
  }
  return sum;
}

float vec_dot_q5_0_q8_0(const BlockQ5_0* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQK32];
  for (int64_t b = 0; b < n / kQK32; ++b) {
    decode_q5_32(w[b].qh, w[b].qs, u);
    const int8_t* q = x.qs + kQK32 * b;
    int isum = 0;
    for (int j = 0; j < kQK32; ++j) isum += (u[j] - 16) * q[j];
    sum += static_cast<float>(isum) * fp16_to_fp32(w[b].d) * x.d[b];
  }
  return sum;
}

float vec_dot_q5_1_q8_1(const BlockQ5_1* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQK32];
  for (int64_t b = 0; b < n / kQK32; ++b) {
    decode_q5_32(w[b].qh, w[b].qs, u);
    const int isum = dot_u8_s8(u, x.qs + kQK32 * b, kQK32);
    sum += fp16_to_fp32(w[b].d) * x.d[b] * static_cast<float>(isum) + fp16_to_fp32(w[b].m) * x.corr[b];
  }
  return sum;
}

float vec_dot_q8_0_q8_0(const BlockQ8_0* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK32; ++b) {
    const int isum = dot_s8_s8(w[b].qs, x.qs + kQK32 * b, kQK32);
    sum += static_cast<float>(isum) * (fp16_to_fp32(w[b].d) * x.d[b]);
  }
  return sum;
}

float vec_dot_iq4_nl_q8_0(const BlockIQ4_NL* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  int8_t s[kQK32];
  for (int64_t b = 0; b < n / kQK32; ++b) {
    decode_iq4_32(w[b].qs, s);
    const int isum = dot_s8_s8(s, x.qs + kQK32 * b, kQK32);
    sum += fp16_to_fp32(w[b].d) * x.d[b] * static_cast<float>(isum);
  }
  return sum;
}

// The K-quants: integer sums per sub-block times integer scales, one float
// multiply per super-block, min terms through the activation's bsums.
float vec_dot_q2_K_q8_K(const BlockQ2_K* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQKK];
  int16_t sc[16], mn[16];
  for (int64_t b = 0; b < n / kQKK; ++b) {
    decode_q2_K(w[b], u, sc, mn);
    const int8_t* q = x.qs + kQKK * b;
    int isum = 0, summs = 0;
    for (int k = 0; k < 16; ++k) {
      isum += sc[k] * dot_u8_s8(u + 16 * k, q + 16 * k, 16);
      summs += mn[k] * x.bsums[16 * b + k];
    }
    const float dx = x.d[b];
    sum += dx * fp16_to_fp32(w[b].d) * static_cast<float>(isum) -
           dx * fp16_to_fp32(w[b].dmin) * static_cast<float>(summs);
  }
  return sum;
}

float vec_dot_q3_K_q8_K(const BlockQ3_K* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQKK];
  int16_t sc[16];
  for (int64_t b = 0; b < n / kQKK; ++b) {
    decode_q3_K(w[b], u, sc);
    const int8_t* q = x.qs + kQKK * b;
    int isum = 0;
    for (int k = 0; k < 16; ++k) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += (u[16 * k + l] - 4) * q[16 * k + l];
      isum += sc[k] * s;
    }
    sum += fp16_to_fp32(w[b].d) * x.d[b] * static_cast<float>(isum);
  }
  return sum;
}

namespace {

template <class Block, void (*Decode)(const Block&, uint8_t*, int16_t*, int16_t*)>
float dot_k4_family(const Block* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQKK];
  int16_t sc[8], mn[8];
  for (int64_t b = 0; b < n / kQKK; ++b) {
    Decode(w[b], u, sc, mn);
    const int8_t* q = x.qs + kQKK * b;
    const int16_t* bs = x.bsums + 16 * b;
    int isum = 0, summs = 0;
    for (int k = 0; k < 8; ++k) {
      isum += sc[k] * dot_u8_s8(u + 32 * k, q + 32 * k, 32);
      summs += mn[k] * (bs[2 * k] + bs[2 * k + 1]);
    }
    const float dx = x.d[b];
    sum += dx * fp16_to_fp32(w[b].d) * static_cast<float>(isum) -
           dx * fp16_to_fp32(w[b].dmin) * static_cast<float>(summs);
  }
  return sum;
}

}  // namespace

float vec_dot_q4_K_q8_K(const BlockQ4_K* w, const ActRowRef& x, int64_t n) {
  return dot_k4_family<BlockQ4_K, decode_q4_K>(w, x, n);
}

float vec_dot_q5_K_q8_K(const BlockQ5_K* w, const ActRowRef& x, int64_t n) {
  return dot_k4_family<BlockQ5_K, decode_q5_K>(w, x, n);
}

float vec_dot_q6_K_q8_K(const BlockQ6_K* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  uint8_t u[kQKK];
  int16_t sc[16];
  for (int64_t b = 0; b < n / kQKK; ++b) {
    decode_q6_K(w[b], u, sc);
    const int8_t* q = x.qs + kQKK * b;
    int isum = 0;
    for (int k = 0; k < 16; ++k) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += (u[16 * k + l] - 32) * q[16 * k + l];
      isum += sc[k] * s;
    }
    sum += fp16_to_fp32(w[b].d) * x.d[b] * static_cast<float>(isum);
  }
  return sum;
}

float vec_dot_iq4_xs_q8_K(const BlockIQ4_XS* w, const ActRowRef& x, int64_t n) {
  float sum = 0.0f;
  int8_t s[kQKK];
  int16_t sc[8];
  for (int64_t b = 0; b < n / kQKK; ++b) {
    decode_iq4_xs(w[b], s, sc);
    const int8_t* q = x.qs + kQKK * b;
    int isum = 0;
    for (int k = 0; k < 8; ++k) isum += sc[k] * dot_s8_s8(s + 32 * k, q + 32 * k, 32);
    sum += fp16_to_fp32(w[b].d) * x.d[b] * static_cast<float>(isum);
  }
  return sum;
}

namespace {

template <class W, float (*Fn)(const W*, const ActRowRef&, int64_t)>
float erase(const void* w, const ActRowRef& x, int64_t n) {
  return Fn(static_cast<const W*>(w), x, n);
}

}  // namespace

VecDotFn vec_dot_for(int32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: return erase<float, vec_dot_f32_f32>;
    case GgmlType::F16: return erase<uint16_t, vec_dot_f16_f16>;
    case GgmlType::BF16: return erase<uint16_t, vec_dot_bf16_bf16>;
    case GgmlType::Q4_0: return erase<BlockQ4_0, vec_dot_q4_0_q8_0>;
    case GgmlType::Q4_1: return erase<BlockQ4_1, vec_dot_q4_1_q8_1>;
    case GgmlType::Q5_0: return erase<BlockQ5_0, vec_dot_q5_0_q8_0>;
    case GgmlType::Q5_1: return erase<BlockQ5_1, vec_dot_q5_1_q8_1>;
    case GgmlType::Q8_0: return erase<BlockQ8_0, vec_dot_q8_0_q8_0>;
    case GgmlType::IQ4_NL: return erase<BlockIQ4_NL, vec_dot_iq4_nl_q8_0>;
    case GgmlType::Q2_K: return erase<BlockQ2_K, vec_dot_q2_K_q8_K>;
    case GgmlType::Q3_K: return erase<BlockQ3_K, vec_dot_q3_K_q8_K>;
    case GgmlType::Q4_K: return erase<BlockQ4_K, vec_dot_q4_K_q8_K>;
    case GgmlType::Q5_K: return erase<BlockQ5_K, vec_dot_q5_K_q8_K>;
    case GgmlType::Q6_K: return erase<BlockQ6_K, vec_dot_q6_K_q8_K>;
    case GgmlType::IQ4_XS: return erase<BlockIQ4_XS, vec_dot_iq4_xs_q8_K>;
    default: break;
  }
  activation_format(type);  // throws ERR_UNSUPPORTED_TYPE
  return nullptr;
}

}  // namespace shortgpt::cpu
