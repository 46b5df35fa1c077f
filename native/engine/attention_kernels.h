// The inner loops of the engine's attention (attention.cc), one set per
// instruction set: scalar here, AVX2 in attention_avx2.cc (compiled with
// -mavx2 -mfma -mf16c, called only when the CPU has them). Both give the
// same bits: every output element is one fused multiply-add chain in a fixed
// order, and the exponential is the same polynomial, lane for lane.
//
// They reproduce llama.cpp's CPU flash attention for a batch of 64 or more
// query rows (ggml-cpu ops.cpp, the tiled kernel): 64-row query tiles
// against 64-cell key tiles, scores as f32 FMA chains over the head
// dimension, a per-tile online softmax whose exponentials use ggml's AVX2
// exp approximation (ggml_v_expf) with 8-lane partial sums added in double,
// and an f32 accumulator for P.V. Only the plain types cross this boundary.
#pragma once

#include <cmath>
#include <cstdint>

namespace shortgpt {

constexpr int kAttnTile = 64;  // query rows per tile and key cells per tile (GGML_FA_TILE_Q/KV)

struct AttnKernels {
  const char* name;
  // s[i][j] = scale * (sum over d of q[i][d] * kt[d][j]), i, j < 64: the sum
  // as fma(q, k, acc) from acc = 0 with d ascending, then one multiply.
  // q is [64][dk], kt [dk][64], s [64][64].
  void (*scores)(const float* q, const float* kt, int dk, float scale, float* s);
  // row[j] = exp(row[j] - max) for j < 64 with ggml's exp approximation;
  // returns the sum of the eight 8-lane partial sums, each summed in float
  // in ggml's order, added in double.
  double (*exp_row)(float* row, float max);
  // acc[i][d] = fma chain over j ascending of p[i][j] * v[j][d], starting
  // from acc[i][d]. p is [64][64], v [64][dv], acc [64][dv]; dv % 8 == 0.
  void (*accumulate)(const float* p, const float* v, int dv, float* acc);
};

const AttnKernels& attn_kernels_scalar();

namespace avx2 {
// Present when the build compiled the x86 SIMD files.
const AttnKernels& attn_kernels();
}  // namespace avx2

// The one-row paths (attention.cc's one-chunk kernel and the decoder's cached
// attention) share this: the score scale with llama.cpp's softcap folded in
// (it computes c · tanh(s · (scale / c))), and one cell of the online softmax.
inline float folded_kq_scale(float kq_scale, float softcap) { return softcap != 0.0f ? kq_scale / softcap : kq_scale; }

struct SoftmaxStep {
  bool raised;  // the running max rose: the accumulator is rescaled by ms
  float ms;     // factor for the accumulator and the running sum
  float vs;     // weight of this cell's V
};

// `scaled` is (K.Q) · folded_kq_scale; M is the running max, updated here.
inline SoftmaxStep online_softmax_step(float scaled, float softcap, float& M) {
  const float sc = softcap != 0.0f ? softcap * std::tanh(scaled) : scaled;
  if (sc > M) {
    const float m_old = M;
    M = sc;
    return {true, std::exp(m_old - M), 1.0f};
  }
  return {false, 1.0f, std::exp(sc - M)};
}

// ggml_v_expf for one lane (the scalar kernels' exponential, also used by tests).
float ggml_expf_lane(float x);

// ggml_vec_dot_f16 / ggml_vec_dot_f32 as the AVX2 build sums them: four
// 8-lane FMA chains over steps of 32, reduced (0+2, 1+3, 0+1, halves, pairs),
// the tail added in double. The one-row attention kernels use it for Q.K.
float dot_ggml(const float* a, const float* b, int n);

}  // namespace shortgpt
