#pragma once

#include <napi.h>

namespace shortgpt {

// cudaDevices(): null when the addon was built without CUDA; otherwise
// { runtimeVersion, driverVersion, error, devices: [{ index, name,
// totalMemory, computeCapability, multiprocessors, runsKernels, kernelError }] }.
// Each device runs a one-thread probe kernel, so call it when needed, not per run.
Napi::Value cuda_devices_js(const Napi::CallbackInfo& info);

}  // namespace shortgpt
