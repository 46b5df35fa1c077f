#include "napi/cuda_kernels_binding.h"

#include <cstring>
#include <string>
#include <vector>

#include "napi/js_error.h"

#ifdef SHORTGPT_WITH_CUDA
#include "cuda/cuda_kernels_api.h"
#endif

namespace shortgpt {

#ifdef SHORTGPT_WITH_CUDA

namespace {

template <class T, napi_typedarray_type kType>
std::vector<T> array_of(Napi::Env env, const Napi::Value& v, const char* what, const char* type_name) {
  if (v.IsNull() || v.IsUndefined()) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw invalid_arg(env, std::string(what) + " must be a " + type_name);
  }
  auto a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<float> f32s(Napi::Env env, const Napi::Value& v, const char* what) {
  return array_of<float, napi_float32_array>(env, v, what, "Float32Array");
}

Napi::Float32Array to_js(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(float));
  return a;
}

Napi::Float64Array to_js(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(double));
  return a;
}

std::string string_or(const Napi::Value& v, const char* fallback) {
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(fallback);
}

Napi::Object opts(const Napi::Value& v, Napi::Env env) {
  return v.IsObject() ? v.As<Napi::Object>() : Napi::Object::New(env);
}

double number_or(const Napi::Object& o, const char* key, double fallback) {
  const Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

// dequantize(type, bytes: Uint8Array, n)
Napi::Value dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const auto type = static_cast<int32_t>(to_i64(env, info[0], "type"));
    const auto bytes = array_of<uint8_t, napi_uint8_array>(env, info[1], "bytes", "Uint8Array");
    return to_js(env, cuda_test::dequantize(type, bytes, to_i64(env, info[2], "n")));
  });
}

// matmul(type, weight: Uint8Array, nIn, nOut, x: Float32Array, T, { path?, cublasPath? })
Napi::Value matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Napi::Object o = opts(info[6], env);
    return to_js(env, cuda_test::matmul(static_cast<int32_t>(to_i64(env, info[0], "type")),
                                        array_of<uint8_t, napi_uint8_array>(env, info[1], "weight", "Uint8Array"),
                                        to_i64(env, info[2], "nIn"), to_i64(env, info[3], "nOut"), f32s(env, info[4], "x"),
                                        to_i64(env, info[5], "T"), string_or(o.Get("path"), "auto"),
                                        string_or(o.Get("cublasPath"), "")));
  });
}

// rmsnorm(x, n, w | null, eps)
Napi::Value rmsnorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    return to_js(env, cuda_test::rmsnorm(f32s(env, info[0], "x"), to_i64(env, info[1], "n"), f32s(env, info[2], "w"),
                                         static_cast<float>(info[3].As<Napi::Number>().DoubleValue())));
  });
}

// qkPrepare(x, heads, headDim, { normW?, eps?, positions: Int32Array, scale?, rope? })
// rope: { mode: 'normal' | 'neox', nRot, freqBase?, freqScale?, freqFactors?, extFactor?,
// attnFactor?, nCtxOrig?, betaFast?, betaSlow? } (kernels.rope's options).
Napi::Value qk_prepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Napi::Object o = opts(info[3], env);
    cuda_test::RopeArgs rope;
    if (o.Get("rope").IsObject()) {
      const Napi::Object r = o.Get("rope").As<Napi::Object>();
      rope.on = true;
      rope.neox = string_or(r.Get("mode"), "normal") == "neox";
      rope.n_rot = static_cast<int>(number_or(r, "nRot", 0));
      rope.base = static_cast<float>(number_or(r, "freqBase", 10000.0));
      rope.freq_scale = static_cast<float>(number_or(r, "freqScale", 1.0));
      rope.ext_factor = static_cast<float>(number_or(r, "extFactor", 0.0));
      rope.attn_factor = static_cast<float>(number_or(r, "attnFactor", 1.0));
      rope.beta_fast = static_cast<float>(number_or(r, "betaFast", 32.0));
      rope.beta_slow = static_cast<float>(number_or(r, "betaSlow", 1.0));
      rope.n_ctx_orig = static_cast<int>(number_or(r, "nCtxOrig", 0));
      rope.factors = f32s(env, r.Get("freqFactors"), "rope.freqFactors");
    }
    return to_js(env, cuda_test::qk_prepare(f32s(env, info[0], "x"), static_cast<int>(to_i64(env, info[1], "heads")),
                                            static_cast<int>(to_i64(env, info[2], "headDim")), f32s(env, o.Get("normW"), "normW"),
                                            static_cast<float>(number_or(o, "eps", 1e-6)), rope,
                                            array_of<int32_t, napi_int32_array>(env, o.Get("positions"), "positions", "Int32Array"),
                                            static_cast<float>(number_or(o, "scale", 1.0))));
  });
}

// glu(op, gate, up)
Napi::Value glu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    return to_js(env, cuda_test::glu(string_or(info[0], ""), f32s(env, info[1], "gate"), f32s(env, info[2], "up")));
  });
}

// attention({ q, k, v, lengths: Int32Array, nHead, nHeadKv, dk, dv, kqScale, softcap?, window?, roundF16? })
Napi::Value attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const Napi::Object o = opts(info[0], env);
    cuda_test::AttentionCase c;
    c.q = f32s(env, o.Get("q"), "q");
    c.k = f32s(env, o.Get("k"), "k");
    c.v = f32s(env, o.Get("v"), "v");
    const auto lengths = array_of<int32_t, napi_int32_array>(env, o.Get("lengths"), "lengths", "Int32Array");
    c.lengths.assign(lengths.begin(), lengths.end());
    c.n_head = static_cast<int>(number_or(o, "nHead", 0));
    c.n_head_kv = static_cast<int>(number_or(o, "nHeadKv", 0));
    c.dk = static_cast<int>(number_or(o, "dk", 0));
    c.dv = static_cast<int>(number_or(o, "dv", 0));
    c.kq_scale = static_cast<float>(number_or(o, "kqScale", 1.0));
    c.softcap = static_cast<float>(number_or(o, "softcap", 0.0));
    c.window = static_cast<int>(number_or(o, "window", 0));
    c.round_f16 = !o.Has("roundF16") || o.Get("roundF16").ToBoolean().Value();
    return to_js(env, cuda_test::attention(c));
  });
}

// compareRows(a, b, n) -> { cos: Float64Array, rel: Float64Array }
Napi::Value compare_rows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::vector<double> cos, rel;
    cuda_test::compare_rows(f32s(env, info[0], "a"), f32s(env, info[1], "b"), to_i64(env, info[2], "n"), cos, rel);
    Napi::Object out = Napi::Object::New(env);
    out.Set("cos", to_js(env, cos));
    out.Set("rel", to_js(env, rel));
    return out;
  });
}

// loadCublas(path?) -> { path, version }
Napi::Value load_cublas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const cuda_test::CublasInfo c = cuda_test::load_cublas(string_or(info[0], ""));
    Napi::Object out = Napi::Object::New(env);
    out.Set("path", c.path);
    out.Set("version", c.version);
    return out;
  });
}

// cublasCandidates(path?) -> string[]: the places loadCublas tries, in order.
Napi::Value cublas_candidates(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const std::vector<std::string> c = cuda_test::cublas_candidates(string_or(info[0], ""));
    Napi::Array out = Napi::Array::New(env, c.size());
    for (size_t i = 0; i < c.size(); ++i) out.Set(static_cast<uint32_t>(i), c[i]);
    return out;
  });
}

}  // namespace

Napi::Value define_cuda_kernels(Napi::Env env) {
  Napi::Object k = Napi::Object::New(env);
  k.Set("dequantize", Napi::Function::New<dequantize>(env, "dequantize"));
  k.Set("matmul", Napi::Function::New<matmul>(env, "matmul"));
  k.Set("rmsnorm", Napi::Function::New<rmsnorm>(env, "rmsnorm"));
  k.Set("qkPrepare", Napi::Function::New<qk_prepare>(env, "qkPrepare"));
  k.Set("glu", Napi::Function::New<glu>(env, "glu"));
  k.Set("attention", Napi::Function::New<attention>(env, "attention"));
  k.Set("compareRows", Napi::Function::New<compare_rows>(env, "compareRows"));
  k.Set("loadCublas", Napi::Function::New<load_cublas>(env, "loadCublas"));
  k.Set("cublasCandidates", Napi::Function::New<cublas_candidates>(env, "cublasCandidates"));
  return k;
}

#else

Napi::Value define_cuda_kernels(Napi::Env env) { return env.Null(); }

#endif

}  // namespace shortgpt
