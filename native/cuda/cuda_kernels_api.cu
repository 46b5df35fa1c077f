#include "cuda/cuda_kernels_api.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <memory>

#include "common/error.h"
#include "cpu/rope.h"
#include "cpu/weight_types.h"
#include "cuda/cublas_loader.h"
#include "cuda/cuda_util.cuh"
#include "cuda/kernels.cuh"
#include "cuda/matmul.cuh"
#include "engine/attention_kernels.h"

namespace shortgpt::cuda_test {

using namespace shortgpt::cuda;

namespace {

// Device 0 current on this thread, or ERR_CUDA_UNAVAILABLE saying why not.
void use_device() {
  int count = 0, driver = 0;
  cudaDriverGetVersion(&driver);
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw NativeError("ERR_CUDA_UNAVAILABLE", driver == 0 ? "no NVIDIA driver found"
                                                          : std::string("no usable CUDA device: ") +
                                                                (err != cudaSuccess ? cudaGetErrorString(err) : "none"));
  }
  check(cudaSetDevice(0), "cudaSetDevice");
}

template <class T>
DeviceBuffer upload(const std::vector<T>& v) {
  DeviceBuffer b(static_cast<int64_t>(std::max<size_t>(1, v.size()) * sizeof(T)), nullptr, "a test input");
  if (!v.empty()) check(cudaMemcpy(b.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
  // A cudaMemcpy from pageable memory may return before its DMA lands; the
  // kernels on the legacy stream would wait for it, the matmul's non-blocking
  // dequantization stream would not.
  check(cudaDeviceSynchronize(), "upload");
  return b;
}

template <class T>
std::vector<T> download(const DeviceBuffer& b, size_t n) {
  check(cudaDeviceSynchronize(), "kernel");
  std::vector<T> out(n);
  if (n) check(cudaMemcpy(out.data(), b.get(), n * sizeof(T), cudaMemcpyDeviceToHost), "download");
  return out;
}

DeviceMatrix matrix_on(const DeviceBuffer& b, int32_t type, int64_t n_in, int64_t n_out) {
  DeviceMatrix m;
  m.type = type;
  m.data = b.as<uint8_t>();
  m.n_in = n_in;
  m.n_out = n_out;
  m.row_bytes = cpu::weight_row_bytes(type, n_in);
  return m;
}

}  // namespace

std::vector<float> dequantize(int32_t type, const std::vector<uint8_t>& bytes, int64_t n) {
  cpu::require_supported_weight(type, "cudaKernels.dequantize input");
  const int64_t need = cpu::weight_row_bytes(type, n);
  if (static_cast<int64_t>(bytes.size()) < need) throw NativeError("ERR_INVALID_ARG", "too few bytes for n values");
  use_device();
  DeviceBuffer w = upload(bytes);
  DeviceBuffer out(n * 4, nullptr, "a test output");
  dequantize_rows_f32(matrix_on(w, type, n, 1), 0, 1, out.as<float>(), nullptr);
  return download<float>(out, static_cast<size_t>(n));
}

std::vector<float> matmul(int32_t type, const std::vector<uint8_t>& weight, int64_t n_in, int64_t n_out,
                          const std::vector<float>& x, int64_t T, const std::string& path, const std::string& cublas_path) {
  cpu::require_supported_weight(type, "cudaKernels.matmul weight");
  if (static_cast<int64_t>(weight.size()) != cpu::weight_row_bytes(type, n_in) * n_out) {
    throw NativeError("ERR_INVALID_ARG", "weight size does not match nIn x nOut");
  }
  if (static_cast<int64_t>(x.size()) != T * n_in) throw NativeError("ERR_INVALID_ARG", "x must hold T rows of nIn");
  use_device();
  CublasLibrary cublas(cublas_path);
  DeviceBuffer w = upload(weight), xd = upload(x);
  DeviceBuffer y(T * n_out * 4, nullptr, "a test output");
  DeviceTally tally;
  // A small slice so the test also crosses slice boundaries.
  DeviceMatmul mm(cublas, nullptr, &tally, int64_t(64) * n_in * 2);
  const DeviceMatmul::Path p = path == "gemm" ? DeviceMatmul::Path::Gemm : path == "matvec" ? DeviceMatmul::Path::Matvec
                                                                                            : DeviceMatmul::Path::Auto;
  mm.run(matrix_on(w, type, n_in, n_out), xd.as<float>(), T, y.as<float>(), p);
  return download<float>(y, static_cast<size_t>(T * n_out));
}

std::vector<float> rmsnorm(const std::vector<float>& x, int64_t n, const std::vector<float>& w, float eps) {
  if (n <= 0 || x.size() % static_cast<size_t>(n) != 0) throw NativeError("ERR_INVALID_ARG", "x must hold rows of n");
  use_device();
  DeviceBuffer xd = upload(x), wd = upload(w), y(static_cast<int64_t>(x.size()) * 4, nullptr, "a test output");
  const int64_t rows = static_cast<int64_t>(x.size()) / n;
  rmsnorm_rows(y.as<float>(), n, xd.as<float>(), n, w.empty() ? nullptr : wd.as<float>(), rows, n, eps, nullptr);
  return download<float>(y, x.size());
}

std::vector<float> qk_prepare(const std::vector<float>& x, int heads, int head_dim, const std::vector<float>& norm_w,
                              float eps, const RopeArgs& rope, const std::vector<int32_t>& positions, float scale) {
  const int64_t width = int64_t(heads) * head_dim;
  if (width <= 0 || x.size() % static_cast<size_t>(width) != 0) throw NativeError("ERR_INVALID_ARG", "x must hold rows of heads x headDim");
  const int64_t rows = static_cast<int64_t>(x.size()) / width;
  if (static_cast<int64_t>(positions.size()) != rows) throw NativeError("ERR_INVALID_ARG", "one position per row");
  if (!norm_w.empty() && static_cast<int>(norm_w.size()) != head_dim) throw NativeError("ERR_INVALID_ARG", "normW must hold headDim values");
  std::vector<float> cache;
  if (rope.on) {
    if (rope.n_rot < 2 || rope.n_rot % 2 != 0 || rope.n_rot > head_dim) throw NativeError("ERR_INVALID_ARG", "nRot must be even, 2..headDim");
    if (!rope.factors.empty() && static_cast<int>(rope.factors.size()) != rope.n_rot / 2) {
      throw NativeError("ERR_INVALID_ARG", "freqFactors must hold nRot/2 values");
    }
    cpu::RopeParams p;
    p.n_rot = rope.n_rot;
    p.freq_base = rope.base;
    p.freq_scale = rope.freq_scale;
    p.freq_factors = rope.factors.empty() ? nullptr : rope.factors.data();
    p.ext_factor = rope.ext_factor;
    p.attn_factor = rope.attn_factor;
    if (p.ext_factor != 0.0f) cpu::rope_yarn_corr_dims(p.n_rot, rope.n_ctx_orig, p.freq_base, rope.beta_fast, rope.beta_slow, p.corr_dims);
    int32_t max_pos = 0;
    for (int32_t q : positions) {
      if (q < 0) throw NativeError("ERR_INVALID_ARG", "positions must be >= 0");
      max_pos = std::max(max_pos, q);
    }
    cache.resize(static_cast<size_t>(max_pos + 1) * static_cast<size_t>(rope.n_rot));
    for (int32_t q = 0; q <= max_pos; ++q) cpu::rope_cache(p, static_cast<float>(q), cache.data() + static_cast<size_t>(q) * rope.n_rot);
  }
  use_device();
  DeviceBuffer xd = upload(x), nd = upload(norm_w), cd = upload(cache), pd = upload(positions);
  cuda::qk_prepare(xd.as<float>(), width, rows, heads, head_dim, norm_w.empty() ? nullptr : nd.as<float>(), eps,
                   rope.on ? cd.as<float>() : nullptr, rope.n_rot, rope.neox, pd.as<int32_t>(), scale, nullptr);
  return download<float>(xd, x.size());
}

std::vector<float> glu(const std::string& op, const std::vector<float>& gate, const std::vector<float>& up) {
  if (gate.size() != up.size()) throw NativeError("ERR_INVALID_ARG", "gate and up must have the same length");
  use_device();
  DeviceBuffer g = upload(gate), u = upload(up), h(static_cast<int64_t>(std::max<size_t>(1, gate.size())) * 4, nullptr, "a test output");
  const int64_t n = static_cast<int64_t>(gate.size());
  if (op == "geglu") {
    geglu_rows(h.as<float>(), g.as<float>(), u.as<float>(), n, 1, n, nullptr);
  } else if (op == "swiglu") {
    swiglu_rows(h.as<float>(), g.as<float>(), u.as<float>(), n, 1, n, nullptr);
  } else {
    throw NativeError("ERR_INVALID_ARG", "op must be 'swiglu' or 'geglu'");
  }
  return download<float>(h, gate.size());
}

std::vector<float> attention(const AttentionCase& c) {
  int64_t T = 0;
  for (int64_t len : c.lengths) {
    if (len < 1) throw NativeError("ERR_INVALID_ARG", "every sequence needs a row");
    T += len;
  }
  const int64_t qw = int64_t(c.n_head) * c.dk, kw = int64_t(c.n_head_kv) * c.dk, vw = int64_t(c.n_head_kv) * c.dv;
  if (static_cast<int64_t>(c.q.size()) != T * qw || static_cast<int64_t>(c.k.size()) != T * kw ||
      static_cast<int64_t>(c.v.size()) != T * vw) {
    throw NativeError("ERR_INVALID_ARG", "q, k and v must hold one row per token");
  }
  use_device();
  std::vector<AttnTile> tiles;
  int64_t start = 0;
  for (int64_t len : c.lengths) {
    for (int64_t r0 = 0; r0 < len; r0 += kAttnRows) {
      tiles.push_back({static_cast<int32_t>(start + r0), static_cast<int32_t>(r0),
                       static_cast<int32_t>(std::min<int64_t>(kAttnRows, len - r0)), static_cast<int32_t>(start)});
    }
    start += len;
  }
  DeviceBuffer qd = upload(c.q), kd = upload(c.k), vd = upload(c.v), td = upload(tiles);
  DeviceBuffer out(T * int64_t(c.n_head) * c.dv * 4, nullptr, "a test output");
  AttnArgs a;
  a.q = qd.as<float>();
  a.q_stride = qw;
  a.k = kd.get();
  a.k_stride = kw;
  a.v = vd.get();
  a.v_stride = vw;
  a.round_f16 = c.round_f16;
  a.out = out.as<float>();
  a.out_stride = int64_t(c.n_head) * c.dv;
  a.n_head = c.n_head;
  a.n_head_kv = c.n_head_kv;
  a.head_dim_k = c.dk;
  a.head_dim_v = c.dv;
  a.scale = folded_kq_scale(c.kq_scale, c.softcap);
  a.softcap = c.softcap;
  a.window = c.window;
  cuda::attention(a, td.as<AttnTile>(), static_cast<int>(tiles.size()), nullptr);
  return download<float>(out, static_cast<size_t>(T * c.n_head * c.dv));
}

void compare_rows(const std::vector<float>& a, const std::vector<float>& b, int64_t n, std::vector<double>& cos,
                  std::vector<double>& rel) {
  if (n <= 0 || a.size() != b.size() || a.size() % static_cast<size_t>(n) != 0) {
    throw NativeError("ERR_INVALID_ARG", "a and b must hold the same rows of n");
  }
  use_device();
  const int64_t rows = static_cast<int64_t>(a.size()) / n;
  DeviceBuffer ad = upload(a), bd = upload(b), out(std::max<int64_t>(1, rows) * 16, nullptr, "a test output");
  cuda::compare_rows(ad.as<float>(), bd.as<float>(), rows, n, out.as<double>(), out.as<double>() + rows, nullptr);
  std::vector<double> both = download<double>(out, static_cast<size_t>(2 * rows));
  cos.assign(both.begin(), both.begin() + rows);
  rel.assign(both.begin() + rows, both.end());
}

CublasInfo load_cublas(const std::string& user_path) {
  CublasLibrary lib(user_path);
  return {lib.path(), lib.version()};
}

std::vector<std::string> cublas_candidates(const std::string& user_path) { return cuda::cublas_candidates(user_path); }

}  // namespace shortgpt::cuda_test
