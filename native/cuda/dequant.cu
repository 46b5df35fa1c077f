// Weight decoding on the GPU: whole rows to f16 / f32 (the GEMM input and
// the tests), embedding lookups, and the quantized mat-vec of decoding. Every
// element goes through the formulas the CPU dequantization runs
// (cpu/block_values.h), so a dequantized row is bit-identical to the CPU's.
#include <cstdint>

#include "common/error.h"
#include "common/ggml_type.h"
#include "cpu/block_values.h"
#include "cpu/fp16.h"
#include "cpu/quant_blocks.h"
#include "cuda/cuda_util.cuh"
#include "cuda/kernels.cuh"

namespace shortgpt::cuda {

namespace {

// Element c of a weight row, per format.
struct F32Format {
  static __device__ float value(const uint8_t* row, int c) { return reinterpret_cast<const float*>(row)[c]; }
};
struct F16Format {
  static __device__ float value(const uint8_t* row, int c) {
    return cpu::fp16_to_fp32(reinterpret_cast<const uint16_t*>(row)[c]);
  }
};
struct BF16Format {
  static __device__ float value(const uint8_t* row, int c) {
    return cpu::bf16_to_fp32(reinterpret_cast<const uint16_t*>(row)[c]);
  }
};
template <class Block, int kElems>
struct BlockFormat {
  static __device__ float value(const uint8_t* row, int c) {
    return cpu::block_value(reinterpret_cast<const Block*>(row)[c / kElems], c % kElems);
  }
};

// Calls fn(Format{}) for the weight type; false for a type the kernels lack.
template <class Fn>
bool with_format(int32_t type, Fn&& fn) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: fn(F32Format{}); return true;
    case GgmlType::F16: fn(F16Format{}); return true;
    case GgmlType::BF16: fn(BF16Format{}); return true;
    case GgmlType::Q4_0: fn(BlockFormat<cpu::BlockQ4_0, cpu::kQK32>{}); return true;
    case GgmlType::Q4_1: fn(BlockFormat<cpu::BlockQ4_1, cpu::kQK32>{}); return true;
    case GgmlType::Q5_0: fn(BlockFormat<cpu::BlockQ5_0, cpu::kQK32>{}); return true;
    case GgmlType::Q5_1: fn(BlockFormat<cpu::BlockQ5_1, cpu::kQK32>{}); return true;
    case GgmlType::Q8_0: fn(BlockFormat<cpu::BlockQ8_0, cpu::kQK32>{}); return true;
    case GgmlType::Q2_K: fn(BlockFormat<cpu::BlockQ2_K, cpu::kQKK>{}); return true;
    case GgmlType::Q3_K: fn(BlockFormat<cpu::BlockQ3_K, cpu::kQKK>{}); return true;
    case GgmlType::Q4_K: fn(BlockFormat<cpu::BlockQ4_K, cpu::kQKK>{}); return true;
    case GgmlType::Q5_K: fn(BlockFormat<cpu::BlockQ5_K, cpu::kQKK>{}); return true;
    case GgmlType::Q6_K: fn(BlockFormat<cpu::BlockQ6_K, cpu::kQKK>{}); return true;
    case GgmlType::IQ4_NL: fn(BlockFormat<cpu::BlockIQ4_NL, cpu::kQK32>{}); return true;
    case GgmlType::IQ4_XS: fn(BlockFormat<cpu::BlockIQ4_XS, cpu::kQKK>{}); return true;
    default: return false;
  }
}

void require_type(int32_t type) {
  if (!device_type_supported(type)) {
    throw NativeError("ERR_UNSUPPORTED_TYPE", "the CUDA kernels cannot read weight type " + std::to_string(type));
  }
}

__device__ inline void store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ inline void store(float* p, float v) { *p = v; }

// One block of threads per row, threads striding over its elements.
template <class Format, class Out>
__global__ void dequantize_rows_kernel(const uint8_t* w, int64_t row_bytes, int n_in, Out* out) {
  const int64_t r = blockIdx.x;
  const uint8_t* row = w + r * row_bytes;
  Out* o = out + r * n_in;
  for (int c = threadIdx.x; c < n_in; c += blockDim.x) store(o + c, Format::value(row, c));
}

template <class Format>
__global__ void embed_rows_kernel(const uint8_t* w, int64_t row_bytes, int n_in, const int32_t* tokens, float scale,
                                  float* x) {
  const int64_t r = blockIdx.x;
  const uint8_t* row = w + static_cast<int64_t>(tokens[r]) * row_bytes;
  float* o = x + r * n_in;
  for (int c = threadIdx.x; c < n_in; c += blockDim.x) {
    const float v = Format::value(row, c);
    o[c] = scale != 1.0f ? mul_rn(v, scale) : v;
  }
}

constexpr int kMatvecMaxRows = 8;      // x rows one launch takes (accumulators per lane)
constexpr int kMatvecWarps = 8;        // output rows per thread block

// One warp per output row o: lanes stride over the row's elements, each
// element decoded once and multiplied into every x row.
template <class Format>
__global__ void matvec_kernel(const uint8_t* w, int64_t row_bytes, int n_in, int64_t n_out, const float* x, int T,
                              float* y, int64_t ldy) {
  const int lane = threadIdx.x & 31;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kMatvecWarps + (threadIdx.x >> 5);
  if (o >= n_out) return;
  const uint8_t* row = w + o * row_bytes;
  float acc[kMatvecMaxRows];
  for (int t = 0; t < kMatvecMaxRows; ++t) acc[t] = 0.0f;
  for (int c = lane; c < n_in; c += 32) {
    const float wv = Format::value(row, c);
    for (int t = 0; t < T; ++t) acc[t] = fmaf(wv, x[static_cast<int64_t>(t) * n_in + c], acc[t]);
  }
  for (int t = 0; t < T; ++t) {
    float v = acc[t];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0) y[static_cast<int64_t>(t) * ldy + o] = v;
  }
}

constexpr int kRowThreads = 256;

}  // namespace

bool device_type_supported(int32_t type) {
  return with_format(type, [](auto) {});
}

void dequantize_rows_f16(const DeviceMatrix& w, int64_t row0, int64_t rows, __half* out, cudaStream_t s) {
  require_type(w.type);
  if (rows <= 0) return;
  with_format(w.type, [&](auto f) {
    dequantize_rows_kernel<decltype(f), __half><<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
        w.data + row0 * w.row_bytes, w.row_bytes, static_cast<int>(w.n_in), out);
  });
  check_launch("dequantize_rows_f16");
}

void dequantize_rows_f32(const DeviceMatrix& w, int64_t row0, int64_t rows, float* out, cudaStream_t s) {
  require_type(w.type);
  if (rows <= 0) return;
  with_format(w.type, [&](auto f) {
    dequantize_rows_kernel<decltype(f), float><<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
        w.data + row0 * w.row_bytes, w.row_bytes, static_cast<int>(w.n_in), out);
  });
  check_launch("dequantize_rows_f32");
}

void embed_rows(const DeviceMatrix& w, const int32_t* tokens, int64_t rows, float scale, float* x, cudaStream_t s) {
  require_type(w.type);
  if (rows <= 0) return;
  with_format(w.type, [&](auto f) {
    embed_rows_kernel<decltype(f)><<<static_cast<unsigned>(rows), kRowThreads, 0, s>>>(
        w.data, w.row_bytes, static_cast<int>(w.n_in), tokens, scale, x);
  });
  check_launch("embed_rows");
}

void matvec(const DeviceMatrix& w, const float* x, int64_t T, float* y, int64_t ldy, cudaStream_t s) {
  require_type(w.type);
  const unsigned grid = blocks_for(w.n_out, kMatvecWarps);
  for (int64_t t0 = 0; t0 < T; t0 += kMatvecMaxRows) {
    const int nt = static_cast<int>(T - t0 < kMatvecMaxRows ? T - t0 : kMatvecMaxRows);
    with_format(w.type, [&](auto f) {
      matvec_kernel<decltype(f)><<<grid, kMatvecWarps * 32, 0, s>>>(w.data, w.row_bytes, static_cast<int>(w.n_in),
                                                                     w.n_out, x + t0 * w.n_in, nt, y + t0 * ldy, ldy);
    });
    check_launch("matvec");
  }
}

}  // namespace shortgpt::cuda
