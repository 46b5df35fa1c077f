#include "napi/cuda_devices_binding.h"

#include "napi/js_error.h"

#ifdef SHORTGPT_WITH_CUDA
#include "cuda/cuda_devices.h"
#endif

namespace shortgpt {

Napi::Value cuda_devices_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SHORTGPT_WITH_CUDA
  return guarded(env, [&]() -> Napi::Value {
    const CudaStatus status = query_cuda_devices();
    Napi::Object out = Napi::Object::New(env);
    out.Set("runtimeVersion", status.runtime_version);
    out.Set("driverVersion", status.driver_version);
    out.Set("error", status.error.empty() ? env.Null() : Napi::String::New(env, status.error));
    Napi::Array devices = Napi::Array::New(env, status.devices.size());
    for (size_t i = 0; i < status.devices.size(); ++i) {
      const CudaDeviceInfo& d = status.devices[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("index", d.index);
      o.Set("name", d.name);
      o.Set("totalMemory", static_cast<double>(d.total_memory));
      o.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
      o.Set("multiprocessors", d.multiprocessors);
      o.Set("runsKernels", d.runs_kernels);
      o.Set("kernelError", d.kernel_error.empty() ? env.Null() : Napi::String::New(env, d.kernel_error));
      devices.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("devices", devices);
    return out;
  });
#else
  return env.Null();
#endif
}

}  // namespace shortgpt
