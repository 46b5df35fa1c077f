// What CUDA can see from this process: the runtime linked into the addon, the
// driver, and each device with the properties the engine's batch sizing and
// kernel choice will need. Never throws: a machine without a driver or GPU is
// a normal answer (the CPU backend runs there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shortgpt {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  uint64_t total_memory = 0;
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  // A one-thread kernel from this binary ran on the device and wrote the
  // expected value: the build carries code for this device's architecture.
  bool runs_kernels = false;
  std::string kernel_error;  // why not, when runs_kernels is false
};

struct CudaStatus {
  int runtime_version = 0;  // e.g. 13050 for 13.5
  int driver_version = 0;   // 0 without a driver
  std::string error;        // empty when the device list could be read
  std::vector<CudaDeviceInfo> devices;
};

CudaStatus query_cuda_devices();

}  // namespace shortgpt
