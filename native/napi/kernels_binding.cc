#include "napi/kernels_binding.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "cpu/activations.h"
#include "cpu/cpu_topology.h"
#include "cpu/dequantize.h"
#include "cpu/matmul.h"
#include "cpu/ops.h"
#include "cpu/rope.h"
#include "cpu/weight_types.h"
#include "napi/js_error.h"

namespace shortgpt {

namespace {

// Outputs are JS-owned typed arrays; refuse anything that would not fit one.
constexpr int64_t kMaxElements = int64_t{1} << 30;

template <class T>
struct Span {
  T* data = nullptr;
  int64_t size = 0;
};

template <class T, napi_typedarray_type kType>
Span<T> typed(Napi::Env env, const Napi::Value& v, const char* what, const char* type_name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw invalid_arg(env, std::string(what) + " must be a " + type_name);
  }
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return {a.Data(), static_cast<int64_t>(a.ElementLength())};
}

Span<float> f32(Napi::Env env, const Napi::Value& v, const char* what) {
  return typed<float, napi_float32_array>(env, v, what, "Float32Array");
}
Span<const float> f32_or_null(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsNull() || v.IsUndefined()) return {};
  Span<float> s = f32(env, v, what);
  return {s.data, s.size};
}
Span<uint8_t> u8(Napi::Env env, const Napi::Value& v, const char* what) {
  return typed<uint8_t, napi_uint8_array>(env, v, what, "Uint8Array");
}
Span<uint16_t> u16(Napi::Env env, const Napi::Value& v, const char* what) {
  return typed<uint16_t, napi_uint16_array>(env, v, what, "Uint16Array");
}

int64_t count(Napi::Env env, const Napi::Value& v, const char* what, int64_t min = 0) {
  const int64_t x = to_i64(env, v, what);
  if (x < min || x > kMaxElements) {
    throw invalid_arg(env, std::string(what) + " must be an integer in [" + std::to_string(min) + ", 2^30]");
  }
  return x;
}

int32_t type_id(Napi::Env env, const Napi::Value& v) {
  const int64_t t = to_i64(env, v, "type");
  if (t < 0 || t > 1000) throw invalid_arg(env, "type must be a ggml type id");
  return static_cast<int32_t>(t);
}

Napi::Object options(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return Napi::Object::New(env);
  if (!v.IsObject()) throw invalid_arg(env, "options must be an object");
  return v.As<Napi::Object>();
}

// opts.simd: "scalar" | "avx2" | "avx512"; default active_simd_level().
SimdLevel simd_option(Napi::Env env, const Napi::Object& o) {
  const Napi::Value v = o.Get("simd");
  if (v.IsUndefined()) return active_simd_level();
  if (!v.IsString()) throw invalid_arg(env, "options.simd must be 'scalar', 'avx2' or 'avx512'");
  const std::string s = v.As<Napi::String>().Utf8Value();
  SimdLevel level;
  if (s == "scalar") level = SimdLevel::Scalar;
  else if (s == "avx2") level = SimdLevel::Avx2;
  else if (s == "avx512") level = SimdLevel::Avx512;
  else throw invalid_arg(env, "options.simd must be 'scalar', 'avx2' or 'avx512'");
  cpu::require_simd_level(level);
  return level;
}

int threads_option(Napi::Env env, const Napi::Object& o) {
  const Napi::Value v = o.Get("threads");
  if (v.IsUndefined()) return cpu::physical_cores();
  const int64_t t = to_i64(env, v, "options.threads");
  if (t < 1 || t > 1024) throw invalid_arg(env, "options.threads must be an integer in [1, 1024]");
  return static_cast<int>(t);
}

Napi::Float32Array new_f32(Napi::Env env, int64_t n) { return Napi::Float32Array::New(env, static_cast<size_t>(n)); }

// Rows of `n` in an array of `size` elements.
int64_t rows_of(Napi::Env env, int64_t size, int64_t n, const char* what) {
  if (n <= 0 || size % n != 0) throw invalid_arg(env, std::string(what) + " length must be a multiple of n > 0");
  return size / n;
}

// A weight copied into 64-byte-aligned memory: the fp16 fields are read in
// place, and a JS Uint8Array may start at any offset.
struct AlignedBytes {
  std::unique_ptr<uint8_t[]> storage;
  uint8_t* data = nullptr;
  explicit AlignedBytes(const Span<uint8_t>& s) : storage(new uint8_t[static_cast<size_t>(s.size) + 64]) {
    data = storage.get() + (64 - reinterpret_cast<uintptr_t>(storage.get()) % 64) % 64;
    if (s.size) std::memcpy(data, s.data, static_cast<size_t>(s.size));
  }
};

// Arguments 0..3 (type, weight, nIn, nOut) as a view into `holder`.
cpu::WeightView weight_arg(Napi::Env env, const Napi::CallbackInfo& info, std::unique_ptr<AlignedBytes>& holder) {
  const int32_t type = type_id(env, info[0]);
  const Span<uint8_t> bytes = u8(env, info[1], "weight");
  const int64_t n_in = count(env, info[2], "nIn", 1);
  const int64_t n_out = count(env, info[3], "nOut", 1);
  cpu::require_supported_weight(type, "kernels.matmul weight");
  const int64_t row = cpu::weight_row_bytes(type, n_in);
  if (bytes.size != row * n_out) {
    throw invalid_arg(env, "weight has " + std::to_string(bytes.size) + " bytes; " + std::to_string(n_out) +
                               " rows of " + std::to_string(n_in) + " need " + std::to_string(row * n_out));
  }
  holder = std::make_unique<AlignedBytes>(bytes);
  return {type, holder->data, n_in, n_out, static_cast<size_t>(row)};
}

Napi::Value supported_types(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int32_t ids[64];
    const int n = cpu::supported_weight_types(ids, 64);
    Napi::Array out = Napi::Array::New(env, static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) out.Set(static_cast<uint32_t>(i), ids[i]);
    return out;
  });
}

Napi::Value weight_type_supported(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    return Napi::Boolean::New(env, cpu::weight_type_supported(static_cast<int32_t>(to_i64(env, info[0], "type"))));
  });
}

Napi::Value require_supported(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int32_t type = static_cast<int32_t>(to_i64(env, info[0], "type"));
    if (!info[1].IsString()) throw invalid_arg(env, "tensor name must be a string");
    cpu::require_supported_weight(type, info[1].As<Napi::String>().Utf8Value());
    return env.Undefined();
  });
}

Napi::Value physical_cores(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cpu::physical_cores());
}

// dequantize(type, bytes, n): the first n values (a whole number of blocks).
Napi::Value dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const int32_t type = type_id(env, info[0]);
    const Span<uint8_t> bytes = u8(env, info[1], "bytes");
    const int64_t n = count(env, info[2], "n");
    cpu::require_supported_weight(type, "kernels.dequantize input");
    const int64_t need = cpu::weight_row_bytes(type, n);
    if (bytes.size < need) {
      throw invalid_arg(env, std::to_string(n) + " values need " + std::to_string(need) + " bytes, got " +
                                 std::to_string(bytes.size));
    }
    AlignedBytes src({bytes.data, need});
    Napi::Float32Array out = new_f32(env, n);
    cpu::dequantize_row(type, src.data, out.Data(), n);
    return out;
  });
}

cpu::ActFormat act_format_arg(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) throw invalid_arg(env, "format must be a string");
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "q8_0") return cpu::ActFormat::Q8_0;
  if (s == "q8_1") return cpu::ActFormat::Q8_1;
  if (s == "q8_K") return cpu::ActFormat::Q8_K;
  if (s == "f16") return cpu::ActFormat::F16;
  if (s == "bf16") return cpu::ActFormat::BF16;
  if (s == "f32") return cpu::ActFormat::F32;
  throw invalid_arg(env, "format must be one of q8_0, q8_1, q8_K, f16, bf16, f32");
}

// quantizeActivations(format, x, n, opts): rows of n values converted as the
// matmul converts them; quants, scales, correction terms and bsums, unpadded.
Napi::Value quantize_activations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const cpu::ActFormat fmt = act_format_arg(env, info[0]);
    const Span<float> x = f32(env, info[1], "x");
    const int64_t n = count(env, info[2], "n", 1);
    const int64_t rows = rows_of(env, x.size, n, "x");
    const SimdLevel level = simd_option(env, options(env, info[3]));
    const bool integer = fmt == cpu::ActFormat::Q8_0 || fmt == cpu::ActFormat::Q8_1 || fmt == cpu::ActFormat::Q8_K;
    const int64_t block = fmt == cpu::ActFormat::Q8_K ? 256 : integer ? 32 : 1;
    if (n % block != 0) throw invalid_arg(env, "n must be a multiple of " + std::to_string(block));
    cpu::ThreadPool pool(1);
    cpu::ActRows act;
    cpu::convert_activations(fmt, x.data, rows, n, act, pool, level);
    const cpu::ActView& a = act.view();
    Napi::Object out = Napi::Object::New(env);
    if (!integer) {
      Napi::Float32Array values = new_f32(env, rows * n);
      for (int64_t r = 0; r < rows; ++r) std::memcpy(values.Data() + r * n, a.f + r * a.n_pad, sizeof(float) * n);
      out.Set("values", values);
      return out;
    }
    const int64_t nb = n / block, ncorr = fmt == cpu::ActFormat::Q8_K ? n / 16 : nb;
    Napi::Int8Array qs = Napi::Int8Array::New(env, static_cast<size_t>(rows * n));
    Napi::Float32Array d = new_f32(env, rows * nb);
    Napi::Float32Array corr = new_f32(env, rows * ncorr);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(qs.Data() + r * n, a.qs + r * a.n_pad, static_cast<size_t>(n));
      std::memcpy(d.Data() + r * nb, a.d + r * a.d_stride, sizeof(float) * nb);
      std::memcpy(corr.Data() + r * ncorr, a.corr + r * a.corr_stride, sizeof(float) * ncorr);
    }
    out.Set("qs", qs);
    out.Set("d", d);
    out.Set("corr", corr);
    if (fmt == cpu::ActFormat::Q8_K) {
      Napi::Int16Array bsums = Napi::Int16Array::New(env, static_cast<size_t>(rows * n / 16));
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(bsums.Data() + r * (n / 16), a.bsums + r * a.bsums_stride, sizeof(int16_t) * (n / 16));
      }
      out.Set("bsums", bsums);
    }
    return out;
  });
}

// quantizeBlocks(format, x): llama.cpp's block_q8_0 / q8_1 / q8_K bytes.
Napi::Value quantize_blocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const cpu::ActFormat fmt = act_format_arg(env, info[0]);
    const Span<float> x = f32(env, info[1], "x");
    size_t block_bytes = 0;
    int64_t block = 32;
    if (fmt == cpu::ActFormat::Q8_0) block_bytes = sizeof(cpu::BlockQ8_0);
    else if (fmt == cpu::ActFormat::Q8_1) block_bytes = sizeof(cpu::BlockQ8_1);
    else if (fmt == cpu::ActFormat::Q8_K) block_bytes = sizeof(cpu::BlockQ8_K), block = 256;
    else throw invalid_arg(env, "format must be q8_0, q8_1 or q8_K");
    if (x.size % block != 0) throw invalid_arg(env, "x length must be a multiple of " + std::to_string(block));
    const int64_t nb = x.size / block;
    std::vector<uint8_t> tmp(static_cast<size_t>(nb) * block_bytes + 8);
    if (fmt == cpu::ActFormat::Q8_0) cpu::quantize_row_q8_0(x.data, reinterpret_cast<cpu::BlockQ8_0*>(tmp.data()), x.size);
    else if (fmt == cpu::ActFormat::Q8_1) cpu::quantize_row_q8_1(x.data, reinterpret_cast<cpu::BlockQ8_1*>(tmp.data()), x.size);
    else cpu::quantize_row_q8_K(x.data, reinterpret_cast<cpu::BlockQ8_K*>(tmp.data()), x.size);
    Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(nb) * block_bytes);
    std::memcpy(out.Data(), tmp.data(), out.ByteLength());
    return out;
  });
}

// matmul(type, weight, nIn, nOut, x, T, opts): Y[T x nOut] = X[T x nIn] . W^T.
Napi::Value matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::unique_ptr<AlignedBytes> holder;
    const cpu::WeightView w = weight_arg(env, info, holder);
    const Span<float> x = f32(env, info[4], "x");
    const int64_t T = count(env, info[5], "T");
    if (x.size != T * w.n_in) throw invalid_arg(env, "x must hold T * nIn values");
    if (T * w.n_out > kMaxElements) throw invalid_arg(env, "the output would exceed 2^30 values");
    const Napi::Object o = options(env, info[6]);
    const SimdLevel level = simd_option(env, o);
    cpu::ThreadPool pool(threads_option(env, o));
    Napi::Float32Array y = new_f32(env, T * w.n_out);
    cpu::matmul(w, x.data, T, y.Data(), pool, level);
    return y;
  });
}

// matmulBench(type, weight, nIn, nOut, x, T, { simd, threads, iterations, warmup }):
// seconds per call (activation conversion included), with the pool and buffers
// made once, as an engine would run it.
Napi::Value matmul_bench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::unique_ptr<AlignedBytes> holder;
    const cpu::WeightView w = weight_arg(env, info, holder);
    const Span<float> x = f32(env, info[4], "x");
    const int64_t T = count(env, info[5], "T", 1);
    if (x.size != T * w.n_in) throw invalid_arg(env, "x must hold T * nIn values");
    if (T * w.n_out > kMaxElements) throw invalid_arg(env, "the output would exceed 2^30 values");
    const Napi::Object o = options(env, info[6]);
    const SimdLevel level = simd_option(env, o);
    const int64_t iterations = o.Has("iterations") ? count(env, o.Get("iterations"), "options.iterations", 1) : 5;
    const int64_t warmup = o.Has("warmup") ? count(env, o.Get("warmup"), "options.warmup") : 1;
    if (iterations > 100000) throw invalid_arg(env, "options.iterations is too large");
    cpu::ThreadPool pool(threads_option(env, o));
    std::vector<float> y(static_cast<size_t>(T * w.n_out));
    cpu::MatmulScratch scratch;
    Napi::Float64Array out = Napi::Float64Array::New(env, static_cast<size_t>(iterations));
    for (int64_t i = -warmup; i < iterations; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      cpu::matmul(w, x.data, T, y.data(), pool, level, &scratch);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 0) out[static_cast<size_t>(i)] = s;
    }
    return out;
  });
}

// matmulSequence(steps, { simd, threads, scratch }): Y = X . W^T for each step
// { type, weight, nIn, nOut, x, T } in order, on one pool, as the engine runs
// the weights of a forward pass; an array of the Ys. opts.scratch:
//   "fresh"    a new MatmulScratch for every matmul;
//   "shared"   one MatmulScratch for the whole sequence (panels keep whatever
//              the previous weights left in them);
//   "poisoned" one MatmulScratch whose weight panels are filled with 0xff bytes
//              (NaN as f32, -1 as int8 / int16) before every matmul, once a
//              first call has sized them for this weight.
// All three must give the same bits: the kernels may not read a panel byte
// they did not write in the same call.
Napi::Value matmul_sequence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsArray()) throw invalid_arg(env, "steps must be an array");
    const Napi::Array steps = info[0].As<Napi::Array>();
    const Napi::Object o = options(env, info[1]);
    const SimdLevel level = simd_option(env, o);
    std::string mode = "shared";
    if (o.Has("scratch")) {
      const Napi::Value v = o.Get("scratch");
      if (!v.IsString()) throw invalid_arg(env, "options.scratch must be 'fresh', 'shared' or 'poisoned'");
      mode = v.As<Napi::String>().Utf8Value();
      if (mode != "fresh" && mode != "shared" && mode != "poisoned") {
        throw invalid_arg(env, "options.scratch must be 'fresh', 'shared' or 'poisoned'");
      }
    }
    cpu::ThreadPool pool(threads_option(env, o));
    cpu::MatmulScratch kept;
    Napi::Array out = Napi::Array::New(env, steps.Length());
    for (uint32_t i = 0; i < steps.Length(); ++i) {
      const Napi::Value sv = steps.Get(i);
      if (!sv.IsObject()) throw invalid_arg(env, "steps[" + std::to_string(i) + "] must be an object");
      const Napi::Object s = sv.As<Napi::Object>();
      const int32_t type = type_id(env, s.Get("type"));
      const Span<uint8_t> bytes = u8(env, s.Get("weight"), "step.weight");
      const int64_t n_in = count(env, s.Get("nIn"), "step.nIn", 1);
      const int64_t n_out = count(env, s.Get("nOut"), "step.nOut", 1);
      const Span<float> x = f32(env, s.Get("x"), "step.x");
      const int64_t T = count(env, s.Get("T"), "step.T");
      cpu::require_supported_weight(type, "kernels.matmulSequence weight");
      const int64_t row = cpu::weight_row_bytes(type, n_in);
      if (bytes.size != row * n_out) throw invalid_arg(env, "step " + std::to_string(i) + ": weight size is not nOut rows of nIn");
      if (x.size != T * n_in) throw invalid_arg(env, "step " + std::to_string(i) + ": x must hold T * nIn values");
      if (T * n_out > kMaxElements) throw invalid_arg(env, "the output would exceed 2^30 values");
      const AlignedBytes w_bytes(bytes);
      const cpu::WeightView w{type, w_bytes.data, n_in, n_out, static_cast<size_t>(row)};
      Napi::Float32Array y = new_f32(env, T * n_out);
      if (mode == "fresh") {
        cpu::matmul(w, x.data, T, y.Data(), pool, level, nullptr);
      } else {
        if (mode == "poisoned") {
          cpu::matmul(w, x.data, T, y.Data(), pool, level, &kept);  // sizes the panels
          for (auto& p : kept.panels) std::fill(p.begin(), p.end(), uint8_t{0xff});
        }
        cpu::matmul(w, x.data, T, y.Data(), pool, level, &kept);
      }
      out.Set(i, y);
    }
    return out;
  });
}

// fmaPeak({ simd, threads, seconds }): f32 FMA FLOP/s on that many threads.
Napi::Value fma_peak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Napi::Object o = options(env, info[0]);
    const SimdLevel level = simd_option(env, o);
    double seconds = 0.5;
    if (o.Has("seconds")) {
      const Napi::Value v = o.Get("seconds");
      if (!v.IsNumber()) throw invalid_arg(env, "options.seconds must be a number");
      seconds = v.As<Napi::Number>().DoubleValue();
      if (!(seconds > 0 && seconds <= 60)) throw invalid_arg(env, "options.seconds must be in (0, 60]");
    }
    cpu::ThreadPool pool(threads_option(env, o));
    return Napi::Number::New(env, cpu::fma_peak_flops(pool, level, seconds));
  });
}

// rmsnorm(x, n, w | null, eps, opts) over each row of n.
Napi::Value rmsnorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    const int64_t n = count(env, info[1], "n", 1);
    const int64_t rows = rows_of(env, x.size, n, "x");
    const Span<const float> w = f32_or_null(env, info[2], "w");
    if (w.data && w.size != n) throw invalid_arg(env, "w must hold n values");
    if (!info[3].IsNumber()) throw invalid_arg(env, "eps must be a number");
    const float eps = info[3].As<Napi::Number>().FloatValue();
    const SimdLevel level = simd_option(env, options(env, info[4]));
    Napi::Float32Array y = new_f32(env, x.size);
    for (int64_t r = 0; r < rows; ++r) cpu::rmsnorm(y.Data() + r * n, x.data + r * n, w.data, n, eps, level);
    return y;
  });
}

// layernorm(x, n, w | null, b | null, eps).
Napi::Value layernorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    const int64_t n = count(env, info[1], "n", 1);
    const int64_t rows = rows_of(env, x.size, n, "x");
    const Span<const float> w = f32_or_null(env, info[2], "w");
    const Span<const float> b = f32_or_null(env, info[3], "b");
    if ((w.data && w.size != n) || (b.data && b.size != n)) throw invalid_arg(env, "w and b must hold n values");
    if (!info[4].IsNumber()) throw invalid_arg(env, "eps must be a number");
    const float eps = info[4].As<Napi::Number>().FloatValue();
    Napi::Float32Array y = new_f32(env, x.size);
    for (int64_t r = 0; r < rows; ++r) cpu::layernorm(y.Data() + r * n, x.data + r * n, w.data, b.data, n, eps);
    return y;
  });
}

// softmax(x, n, scale, mask | null, opts); mask holds n values (shared by all
// rows) or as many as x.
Napi::Value softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    const int64_t n = count(env, info[1], "n", 1);
    const int64_t rows = rows_of(env, x.size, n, "x");
    if (!info[2].IsNumber()) throw invalid_arg(env, "scale must be a number");
    const float scale = info[2].As<Napi::Number>().FloatValue();
    const Span<const float> mask = f32_or_null(env, info[3], "mask");
    if (mask.data && mask.size != n && mask.size != x.size) throw invalid_arg(env, "mask must hold n or x.length values");
    const SimdLevel level = simd_option(env, options(env, info[4]));
    Napi::Float32Array y = new_f32(env, x.size);
    for (int64_t r = 0; r < rows; ++r) {
      const float* m = mask.data ? mask.data + (mask.size == n ? 0 : r * n) : nullptr;
      cpu::softmax(y.Data() + r * n, x.data + r * n, n, scale, m, level);
    }
    return y;
  });
}

// softcap(x, cap).
Napi::Value softcap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    if (!info[1].IsNumber()) throw invalid_arg(env, "cap must be a number");
    Napi::Float32Array y = new_f32(env, x.size);
    cpu::softcap(y.Data(), x.data, x.size, info[1].As<Napi::Number>().FloatValue());
    return y;
  });
}

float number_option(Napi::Env env, const Napi::Object& o, const char* key, float fallback) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw invalid_arg(env, std::string("options.") + key + " must be a number");
  return v.As<Napi::Number>().FloatValue();
}

// rope(x, headDim, positions, opts): rows of headDim values (one head each),
// row r rotated for positions[r]. opts: mode 'normal' | 'neox', nRot
// (default headDim), freqBase, freqScale, freqFactors (Float32Array nRot/2),
// extFactor, attnFactor, and for YaRN nCtxOrig, betaFast (32), betaSlow (1).
Napi::Value rope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    const int64_t head_dim = count(env, info[1], "headDim", 1);
    const int64_t rows = rows_of(env, x.size, head_dim, "x");
    const Span<float> pos = f32(env, info[2], "positions");
    if (pos.size != rows) throw invalid_arg(env, "positions must hold one value per row");
    const Napi::Object o = options(env, info[3]);
    cpu::RopeMode mode = cpu::RopeMode::Normal;
    if (o.Has("mode")) {
      const Napi::Value m = o.Get("mode");
      const std::string s = m.IsString() ? m.As<Napi::String>().Utf8Value() : "";
      if (s == "neox") mode = cpu::RopeMode::Neox;
      else if (s != "normal") throw invalid_arg(env, "options.mode must be 'normal' or 'neox'");
    }
    cpu::RopeParams p;
    p.n_rot = static_cast<int>(o.Has("nRot") ? count(env, o.Get("nRot"), "options.nRot", 2) : head_dim);
    if (p.n_rot % 2 != 0 || p.n_rot > head_dim) throw invalid_arg(env, "options.nRot must be even and at most headDim");
    p.freq_base = number_option(env, o, "freqBase", 10000.0f);
    p.freq_scale = number_option(env, o, "freqScale", 1.0f);
    p.ext_factor = number_option(env, o, "extFactor", 0.0f);
    p.attn_factor = number_option(env, o, "attnFactor", 1.0f);
    if (o.Has("freqFactors") && !o.Get("freqFactors").IsUndefined()) {
      const Span<float> ff = f32(env, o.Get("freqFactors"), "options.freqFactors");
      if (ff.size != p.n_rot / 2) throw invalid_arg(env, "options.freqFactors must hold nRot/2 values");
      p.freq_factors = ff.data;
    }
    if (p.ext_factor != 0.0f) {
      const int64_t n_ctx_orig = count(env, o.Get("nCtxOrig"), "options.nCtxOrig", 1);
      cpu::rope_yarn_corr_dims(p.n_rot, static_cast<int>(n_ctx_orig), p.freq_base,
                               number_option(env, o, "betaFast", 32.0f), number_option(env, o, "betaSlow", 1.0f),
                               p.corr_dims);
    }
    Napi::Float32Array y = new_f32(env, x.size);
    std::memcpy(y.Data(), x.data, sizeof(float) * static_cast<size_t>(x.size));
    std::vector<float> cache(static_cast<size_t>(p.n_rot));
    for (int64_t r = 0; r < rows; ++r) {
      cpu::rope_cache(p, pos.data[r], cache.data());
      cpu::rope_apply(mode, y.Data() + r * head_dim, head_dim, p.n_rot, cache.data());
    }
    return y;
  });
}

// unary(op, x, opts): 'silu' | 'gelu' | 'gelu_f16'.
Napi::Value unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw invalid_arg(env, "op must be a string");
    const std::string op = info[0].As<Napi::String>().Utf8Value();
    const Span<float> x = f32(env, info[1], "x");
    const SimdLevel level = simd_option(env, options(env, info[2]));
    Napi::Float32Array y = new_f32(env, x.size);
    if (op == "silu") cpu::silu(y.Data(), x.data, x.size, level);
    else if (op == "gelu") cpu::gelu(y.Data(), x.data, x.size);
    else if (op == "gelu_f16") cpu::gelu_f16_table(y.Data(), x.data, x.size);
    else throw invalid_arg(env, "op must be 'silu', 'gelu' or 'gelu_f16'");
    return y;
  });
}

// glu(op, gate, up, opts): 'swiglu' | 'geglu' | 'geglu_f16'.
Napi::Value glu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw invalid_arg(env, "op must be a string");
    const std::string op = info[0].As<Napi::String>().Utf8Value();
    const Span<float> gate = f32(env, info[1], "gate");
    const Span<float> up = f32(env, info[2], "up");
    if (gate.size != up.size) throw invalid_arg(env, "gate and up must have the same length");
    const SimdLevel level = simd_option(env, options(env, info[3]));
    Napi::Float32Array y = new_f32(env, gate.size);
    if (op == "swiglu") cpu::swiglu(y.Data(), gate.data, up.data, gate.size, level);
    else if (op == "geglu") cpu::geglu(y.Data(), gate.data, up.data, gate.size, false);
    else if (op == "geglu_f16") cpu::geglu(y.Data(), gate.data, up.data, gate.size, true);
    else throw invalid_arg(env, "op must be 'swiglu', 'geglu' or 'geglu_f16'");
    return y;
  });
}

// binary(op, a, b): 'add' | 'mul'.  scale(x, s).
Napi::Value binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw invalid_arg(env, "op must be a string");
    const std::string op = info[0].As<Napi::String>().Utf8Value();
    const Span<float> a = f32(env, info[1], "a");
    const Span<float> b = f32(env, info[2], "b");
    if (a.size != b.size) throw invalid_arg(env, "a and b must have the same length");
    Napi::Float32Array y = new_f32(env, a.size);
    if (op == "add") cpu::add(y.Data(), a.data, b.data, a.size);
    else if (op == "mul") cpu::mul(y.Data(), a.data, b.data, a.size);
    else throw invalid_arg(env, "op must be 'add' or 'mul'");
    return y;
  });
}

Napi::Value scale(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    if (!info[1].IsNumber()) throw invalid_arg(env, "s must be a number");
    Napi::Float32Array y = new_f32(env, x.size);
    cpu::scale(y.Data(), x.data, info[1].As<Napi::Number>().FloatValue(), x.size);
    return y;
  });
}

// Conversions: toF16(x, opts) -> Uint16Array, fromF16(h, opts), toBF16(x),
// fromBF16(h), roundF16(x, opts).
Napi::Value to_f16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    const SimdLevel level = simd_option(env, options(env, info[1]));
    Napi::Uint16Array y = Napi::Uint16Array::New(env, static_cast<size_t>(x.size));
    cpu::f32_to_f16(y.Data(), x.data, x.size, level);
    return y;
  });
}

Napi::Value from_f16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<uint16_t> h = u16(env, info[0], "h");
    const SimdLevel level = simd_option(env, options(env, info[1]));
    Napi::Float32Array y = new_f32(env, h.size);
    cpu::f16_to_f32(y.Data(), h.data, h.size, level);
    return y;
  });
}

Napi::Value to_bf16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    Napi::Uint16Array y = Napi::Uint16Array::New(env, static_cast<size_t>(x.size));
    cpu::f32_to_bf16(y.Data(), x.data, x.size);
    return y;
  });
}

Napi::Value from_bf16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<uint16_t> h = u16(env, info[0], "h");
    Napi::Float32Array y = new_f32(env, h.size);
    cpu::bf16_to_f32(y.Data(), h.data, h.size);
    return y;
  });
}

Napi::Value round_f16(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Span<float> x = f32(env, info[0], "x");
    const SimdLevel level = simd_option(env, options(env, info[1]));
    Napi::Float32Array y = new_f32(env, x.size);
    cpu::round_f16(y.Data(), x.data, x.size, level);
    return y;
  });
}

}  // namespace

Napi::Object define_kernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
  const std::pair<const char*, Napi::Value (*)(const Napi::CallbackInfo&)> fns[] = {
      {"supportedTypes", supported_types},
      {"weightTypeSupported", weight_type_supported},
      {"requireSupported", require_supported},
      {"physicalCores", physical_cores},
      {"dequantize", dequantize},
      {"quantizeActivations", quantize_activations},
      {"quantizeBlocks", quantize_blocks},
      {"matmul", matmul},
      {"matmulBench", matmul_bench},
      {"matmulSequence", matmul_sequence},
      {"fmaPeak", fma_peak},
      {"rmsnorm", rmsnorm},
      {"layernorm", layernorm},
      {"softmax", softmax},
      {"softcap", softcap},
      {"rope", rope},
      {"unary", unary},
      {"glu", glu},
      {"binary", binary},
      {"scale", scale},
      {"toF16", to_f16},
      {"fromF16", from_f16},
      {"toBF16", to_bf16},
      {"fromBF16", from_bf16},
      {"roundF16", round_f16},
  };
  for (const auto& [name, fn] : fns) k.Set(name, Napi::Function::New(env, fn, name));
  return k;
}

}  // namespace shortgpt
