// CUDA plumbing shared by the backend and its kernels: errors as NativeError
// (ERR_CUDA naming the call, ERR_CUDA_OUT_OF_MEMORY for allocations), device
// buffers owned by RAII handles that count every byte against one tally (the
// peak is what engine.info reports as peakDeviceBytes), and launch helpers.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <utility>

#include "common/error.h"

namespace shortgpt::cuda {

// Throws NativeError ERR_CUDA "<what>: <CUDA's message>" on failure.
inline void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  const std::string msg = std::string(what) + ": " + cudaGetErrorString(err);
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  if (err == cudaErrorMemoryAllocation) throw NativeError("ERR_CUDA_OUT_OF_MEMORY", msg);
  throw NativeError("ERR_CUDA", msg);
}

// After a kernel launch: configuration errors surface here (execution errors
// at the next synchronizing call).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

// Bytes of device memory held through DeviceBuffers of one backend.
class DeviceTally {
 public:
  void add(int64_t bytes) {
    current_ += bytes;
    if (current_ > peak_) peak_ = current_;
  }
  void remove(int64_t bytes) { current_ -= bytes; }
  int64_t current() const { return current_; }
  int64_t peak() const { return peak_; }

 private:
  int64_t current_ = 0;
  int64_t peak_ = 0;
};

// One cudaMalloc'd range; moves, never copies; frees on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(int64_t bytes, DeviceTally* tally, const char* what) : tally_(tally) {
    if (bytes <= 0) return;
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, static_cast<size_t>(bytes));
    if (err != cudaSuccess) {
      cudaGetLastError();
      throw NativeError("ERR_CUDA_OUT_OF_MEMORY", std::string("cannot allocate ") + std::to_string(bytes >> 20) +
                                                      " MiB of device memory for " + what + " (" +
                                                      cudaGetErrorString(err) + "); lower vramBudget or memoryBudget");
    }
    data_ = p;
    bytes_ = bytes;
    if (tally_) tally_->add(bytes_);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    DeviceBuffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_) {
      cudaFree(data_);
      if (tally_) tally_->remove(bytes_);
    }
  }

  void* get() const { return data_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  int64_t bytes() const { return bytes_; }

  // Makes room for at least `bytes` (contents are not kept). Work already
  // queued may still read the old range: the device finishes it first.
  void reserve(int64_t bytes, const char* what) {
    if (bytes <= bytes_) return;
    DeviceTally* t = tally_;
    if (data_) check(cudaDeviceSynchronize(), "finishing work before a buffer grows");
    *this = DeviceBuffer();
    *this = DeviceBuffer(bytes, t, what);
  }
  void set_tally(DeviceTally* t) { tally_ = t; }

 private:
  void swap(DeviceBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    std::swap(tally_, o.tally_);
  }
  void* data_ = nullptr;
  int64_t bytes_ = 0;
  DeviceTally* tally_ = nullptr;
};

inline unsigned blocks_for(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace shortgpt::cuda
