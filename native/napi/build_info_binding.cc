#include "napi/build_info_binding.h"

#include "common/ggml_type.h"
#include "cpu/cpu_features.h"
#include "napi/js_error.h"

#ifndef SHORTGPT_BUILD_SYSTEM
#define SHORTGPT_BUILD_SYSTEM "node-gyp"
#endif

namespace shortgpt {

namespace {

const char* compiler_name() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#elif defined(_MSC_VER)
  return "msvc";
#else
  return "unknown";
#endif
}

}  // namespace

Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    Napi::Object out = Napi::Object::New(env);
    Napi::Array backends = Napi::Array::New(env);
    uint32_t n = 0;
    backends.Set(n++, "cpu");
#ifdef SHORTGPT_WITH_CUDA
    backends.Set(n++, "cuda");
#endif
    out.Set("backends", backends);

    const CpuFeatures& f = cpu_features();
    Napi::Object simd = Napi::Object::New(env);
    Napi::Array compiled = Napi::Array::New(env);
    uint32_t c = 0;
    for (SimdLevel level : {SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512}) {
      if (simd_level_compiled(level)) compiled.Set(c++, simd_level_name(level));
    }
    simd.Set("compiled", compiled);
    simd.Set("best", simd_level_name(f.best));
    simd.Set("active", simd_level_name(active_simd_level()));
    Napi::Object features = Napi::Object::New(env);
    features.Set("avx2", f.avx2);
    features.Set("fma", f.fma);
    features.Set("f16c", f.f16c);
    features.Set("avx512", f.avx512);
    features.Set("avx512vnni", f.avx512_vnni);
    features.Set("avx512bf16", f.avx512_bf16);
    simd.Set("features", features);
    out.Set("simd", simd);

    out.Set("compiler", compiler_name());
    out.Set("buildSystem", SHORTGPT_BUILD_SYSTEM);
    out.Set("napiVersion", NAPI_VERSION);
    return out;
  });
}

Napi::Value ggml_type_table(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int32_t id = 0; id < kGgmlTypeCount; ++id) {
    const GgmlTypeTraits* t = ggml_type_traits(id);
    if (!t) continue;
    Napi::Object row = Napi::Object::New(env);
    row.Set("id", id);
    row.Set("name", t->name);
    row.Set("blockElems", static_cast<double>(t->block_elems));
    row.Set("blockBytes", static_cast<double>(t->block_bytes));
    out.Set(n++, row);
  }
  return out;
}

}  // namespace shortgpt
