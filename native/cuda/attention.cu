// Causal self-attention on the GPU, flash-attention style in f32: a thread
// block takes a tile of up to 32 query rows of one sequence and one head
// (4 warps x 8 rows), walks the keys it may see in tiles of 32 cells staged
// in shared memory, and keeps an online softmax per row (running max, running
// sum, f32 accumulator), so memory stays O(rows) whatever the sequence length.
//
// Semantics are the CPU engine's (engine/attention.h): query head h reads KV
// head h / (n_head / n_head_kv); cell c is visible from position t when
// c <= t and, for a sliding-window block, t - c < window; scores are
// scale * q.k, soft-capped as softcap * tanh(.) with the scale pre-divided;
// K and V hold fp16-rounded values with an F16 cache. The CPU reproduces
// llama.cpp's tile order and exp approximation bit for bit; here expf and a
// different summation order give results within float rounding of it.
#include <cmath>
#include <cstdint>

#include "common/error.h"
#include "cuda/cuda_util.cuh"
#include "cuda/kernels.cuh"

namespace shortgpt::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kAttnRows / kWarps;  // 8
constexpr int kKeys = 32;                          // cells per staged tile (one per lane)

template <bool kF16>
__device__ inline float load_kv(const void* p, int64_t i, bool round_f16) {
  if (kF16) return __half2float(static_cast<const __half*>(p)[i]);
  const float v = static_cast<const float*>(p)[i];
  return round_f16 ? __half2float(__float2half_rn(v)) : v;
}

// kDimsPerLane: V dimensions each lane accumulates (head_dim_v <= 32 * kDimsPerLane).
template <bool kF16, int kDimsPerLane>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(AttnArgs a, const AttnTile* tiles) {
  extern __shared__ float smem[];
  const int dk = a.head_dim_k, dv = a.head_dim_v;
  float* qs = smem;                       // [kAttnRows][dk]
  float* ks = qs + kAttnRows * dk;        // [kKeys][dk + 1] (padded: lanes read different rows)
  float* vs = ks + kKeys * (dk + 1);      // [kKeys][dv]

  const AttnTile tile = tiles[blockIdx.x];
  const int h = blockIdx.y;
  const int g = h / (a.n_head / a.n_head_kv);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  for (int i = tid; i < kAttnRows * dk; i += blockDim.x) {
    const int r = i / dk, d = i % dk;
    qs[i] = r < tile.rows ? a.q[static_cast<int64_t>(tile.q_row + r) * a.q_stride + static_cast<int64_t>(h) * dk + d] : 0.0f;
  }

  float acc[kRowsPerWarp][kDimsPerLane];
  float m[kRowsPerWarp], l[kRowsPerWarp];
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int k = 0; k < kDimsPerLane; ++k) acc[r][k] = 0.0f;
  }

  const int n_keys = tile.q_pos + tile.rows;       // cells of the sequence so far
  const int first_pos = tile.q_pos;
  int lo = 0;
  if (a.window > 0) lo = first_pos - a.window + 1 > 0 ? first_pos - a.window + 1 : 0;
  lo = lo / kKeys * kKeys;
  const int row0 = warp * kRowsPerWarp;

  for (int c0 = lo; c0 < n_keys; c0 += kKeys) {
    __syncthreads();  // the previous tile's K and V are no longer read (and Q is staged)
    for (int i = tid; i < kKeys * dk; i += blockDim.x) {
      const int j = i / dk, d = i % dk;
      const int c = c0 + j;
      ks[j * (dk + 1) + d] =
          c < n_keys ? load_kv<kF16>(a.k, static_cast<int64_t>(tile.kv_row + c) * a.k_stride + static_cast<int64_t>(g) * dk + d, a.round_f16)
                     : 0.0f;
    }
    for (int i = tid; i < kKeys * dv; i += blockDim.x) {
      const int j = i / dv, d = i % dv;
      const int c = c0 + j;
      vs[i] = c < n_keys ? load_kv<kF16>(a.v, static_cast<int64_t>(tile.kv_row + c) * a.v_stride + static_cast<int64_t>(g) * dv + d, a.round_f16)
                         : 0.0f;
    }
    __syncthreads();
    if (row0 >= tile.rows) continue;  // this warp has no rows (still joins the barriers)

    // Lane j scores cell c0 + j against the warp's rows.
    float s[kRowsPerWarp];
    for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.0f;
    const float* kr = ks + lane * (dk + 1);
    for (int d = 0; d < dk; ++d) {
      const float kv = kr[d];
      for (int r = 0; r < kRowsPerWarp; ++r) s[r] = fmaf(qs[(row0 + r) * dk + d], kv, s[r]);
    }
    const int c = c0 + lane;
    float p[kRowsPerWarp];
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int t = first_pos + row0 + r;
      const bool visible = row0 + r < tile.rows && c < n_keys && c <= t && (a.window == 0 || t - c < a.window);
      float sc = s[r] * a.scale;
      if (a.softcap != 0.0f) sc = a.softcap * tanhf(sc);
      sc = visible ? sc : -INFINITY;
      float tile_max = sc;
      for (int off = 16; off > 0; off >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, off));
      if (tile_max == -INFINITY) {  // nothing visible in this tile for the row
        p[r] = 0.0f;
        continue;
      }
      const float m_new = fmaxf(m[r], tile_max);
      const float corr = expf(m[r] - m_new);  // 0 on the first visible tile (m = -inf)
      p[r] = visible ? expf(sc - m_new) : 0.0f;
      float psum = p[r];
      for (int off = 16; off > 0; off >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, off);
      l[r] = l[r] * corr + psum;
      m[r] = m_new;
      for (int k = 0; k < kDimsPerLane; ++k) acc[r][k] *= corr;
    }
    // acc[r][d] += sum over cells j of p[r](lane j) * V[j][d], d = lane + 32 k.
    for (int j = 0; j < kKeys; ++j) {
      float vj[kDimsPerLane];
      for (int k = 0; k < kDimsPerLane; ++k) {
        const int d = lane + 32 * k;
        vj[k] = d < dv ? vs[j * dv + d] : 0.0f;
      }
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float pj = __shfl_sync(0xffffffffu, p[r], j);
        for (int k = 0; k < kDimsPerLane; ++k) acc[r][k] = fmaf(pj, vj[k], acc[r][k]);
      }
    }
  }

  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (row0 + r >= tile.rows) break;
    const float inv = l[r] == 0.0f ? 0.0f : 1.0f / l[r];
    float* o = a.out + static_cast<int64_t>(tile.q_row + row0 + r) * a.out_stride + static_cast<int64_t>(h) * dv;
    for (int k = 0; k < kDimsPerLane; ++k) {
      const int d = lane + 32 * k;
      if (d < dv) o[d] = acc[r][k] * inv;
    }
  }
}

// Dynamic shared memory of the kernel for head sizes dk and dv.
constexpr size_t attention_smem(int dk, int dv) {
  return sizeof(float) * (static_cast<size_t>(kAttnRows) * dk + static_cast<size_t>(kKeys) * (dk + 1) +
                          static_cast<size_t>(kKeys) * dv);
}

template <bool kF16, int kDimsPerLane>
void launch(const AttnArgs& a, const AttnTile* tiles, int n_tiles, cudaStream_t s) {
  const size_t smem = attention_smem(a.head_dim_k, a.head_dim_v);
  // Beyond 48 KiB of dynamic shared memory a kernel must opt in (sm_70+). The
  // limit is a property of the function, shared by every engine in the
  // process: it is set to what the largest heads this instantiation takes
  // need (98 KiB at most, within every built architecture's 99 KiB), never to
  // this call's size, so an engine with smaller heads on another thread cannot
  // lower it between this call's setting and its launch.
  constexpr size_t kMaxSmem = attention_smem(kAttnMaxHeadDim, 32 * kDimsPerLane);
  static_assert(kMaxSmem <= 99 * 1024, "sm_86 / sm_89 take at most 99 KiB of shared memory per block");
  if (cudaFuncSetAttribute(attention_kernel<kF16, kDimsPerLane>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(kMaxSmem)) != cudaSuccess) {
    cudaGetLastError();  // a device with less shared memory: this call's own size
    check(cudaFuncSetAttribute(attention_kernel<kF16, kDimsPerLane>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)),
          "attention: shared memory size");
  }
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(a.n_head));
  attention_kernel<kF16, kDimsPerLane><<<grid, kWarps * 32, smem, s>>>(a, tiles);
  check_launch("attention");
}

template <bool kF16>
void launch_for_dims(const AttnArgs& a, const AttnTile* tiles, int n_tiles, cudaStream_t s) {
  if (a.head_dim_v <= 32) return launch<kF16, 1>(a, tiles, n_tiles, s);
  if (a.head_dim_v <= 64) return launch<kF16, 2>(a, tiles, n_tiles, s);
  if (a.head_dim_v <= 128) return launch<kF16, 4>(a, tiles, n_tiles, s);
  return launch<kF16, 8>(a, tiles, n_tiles, s);
}

}  // namespace

void attention(const AttnArgs& a, const AttnTile* tiles, int n_tiles, cudaStream_t s) {
  if (a.head_dim_k > kAttnMaxHeadDim || a.head_dim_v > kAttnMaxHeadDim || a.head_dim_k < 1 || a.head_dim_v < 1) {
    throw NativeError("ERR_UNSUPPORTED_MODEL", "the CUDA attention takes head sizes of 1..256");
  }
  if (a.n_head_kv < 1 || a.n_head % a.n_head_kv != 0) {
    throw NativeError("ERR_UNSUPPORTED_MODEL", "query heads must be a multiple of KV heads");
  }
  if (n_tiles <= 0) return;
  if (a.kv_f16) {
    launch_for_dims<true>(a, tiles, n_tiles, s);
  } else {
    launch_for_dims<false>(a, tiles, n_tiles, s);
  }
}

}  // namespace shortgpt::cuda
