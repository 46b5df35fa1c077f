// The module's entry point: what the addon exports, nothing else. Every
// binding lives in napi/ beside its own job; engine/, cpu/ and cuda/ know
// nothing of N-API. There is no mutable global state, so the module loads in
// worker_threads and Electron renderers (context-aware).
#include <napi.h>

#include "napi/build_info_binding.h"
#include "napi/cancel_token.h"
#include "napi/copy_ranges_binding.h"
#include "napi/cuda_devices_binding.h"
#include "napi/cuda_kernels_binding.h"
#include "napi/kernels_binding.h"
#include "napi/engine_binding.h"
#include "napi/mapped_model_binding.h"
#include "napi/temp_file_guard.h"

namespace shortgpt {

Napi::Object init_module(Napi::Env env, Napi::Object exports) {
  exports.Set("buildInfo", Napi::Function::New<build_info>(env, "buildInfo"));
  exports.Set("ggmlTypeTable", Napi::Function::New<ggml_type_table>(env, "ggmlTypeTable"));
  exports.Set("MappedModel", define_mapped_model_class(env));
  exports.Set("CancelToken", define_cancel_token_class(env));
  exports.Set("copyRanges", Napi::Function::New<copy_ranges_js>(env, "copyRanges"));
  exports.Set("cudaDevices", Napi::Function::New<cuda_devices_js>(env, "cudaDevices"));
  exports.Set("kernels", define_kernels(env));
  exports.Set("cudaKernels", define_cuda_kernels(env));
  exports.Set("Engine", define_engine_class(env));
  exports.Set("TempFileGuard", define_temp_file_guard_class(env));
  return exports;
}

}  // namespace shortgpt

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return shortgpt::init_module(env, exports);
}

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
