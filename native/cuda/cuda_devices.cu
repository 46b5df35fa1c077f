#include "cuda/cuda_devices.h"

#include <cuda_runtime.h>

namespace shortgpt {

namespace {

__global__ void write_marker(int* out) { *out = 0x5347; }

// Runs write_marker on the current device; empty string on success.
std::string probe_kernel() {
  int* device_value = nullptr;
  cudaError_t err = cudaMalloc(&device_value, sizeof(int));
  if (err != cudaSuccess) return cudaGetErrorString(err);
  write_marker<<<1, 1>>>(device_value);
  err = cudaGetLastError();
  int host_value = 0;
  if (err == cudaSuccess) err = cudaMemcpy(&host_value, device_value, sizeof(int), cudaMemcpyDeviceToHost);
  cudaFree(device_value);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  return host_value == 0x5347 ? "" : "the probe kernel wrote a wrong value";
}

}  // namespace

CudaStatus query_cuda_devices() {
  CudaStatus status;
  cudaRuntimeGetVersion(&status.runtime_version);
  cudaDriverGetVersion(&status.driver_version);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // Without any driver CUDA says "driver version is insufficient": say what is missing.
    status.error = status.driver_version == 0 ? "no NVIDIA driver found" : cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return status;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo info;
    info.index = i;
    info.name = prop.name;
    info.total_memory = prop.totalGlobalMem;
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    if (cudaSetDevice(i) == cudaSuccess) {
      info.kernel_error = probe_kernel();
      info.runs_kernels = info.kernel_error.empty();
    } else {
      info.kernel_error = "cudaSetDevice failed";
    }
    status.devices.push_back(info);
  }
  return status;
}

}  // namespace shortgpt
