// cuBLAS found and loaded at run time (dlopen), never linked: the CUDA addon
// loads on machines without it and says what is missing instead of failing
// to load. Places tried, in order (the first that loads and has every symbol
// wins):
//
//   1. the `cublasPath` option: a libcublas file, or a folder holding one;
//   2. $SHORTGPT_CUBLAS_PATH, the same;
//   3. the default loader path (LD_LIBRARY_PATH, ldconfig's cache);
//   4. CUDA toolkits: /usr/local/cuda/lib64, /usr/local/cuda-*/lib64;
//   5. pip installs of NVIDIA's wheels — nvidia-cublas (CUDA 13):
//      site-packages/nvidia/cu13/lib, nvidia-cublas-cu12: nvidia/cublas/lib —
//      under $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local and the system Python
//      folders (python3.*).
//
// In each folder libcublas.so.13 is tried before .so.12, with libcublasLt
// (its dependency) from the same folder loaded first. Only the C entry points
// below are used; their types and enum values are declared here from the
// cuBLAS API reference (checked against cublas_api.h of nvidia-cublas
// 13.10.0.20 and 12.9), so the build needs no cuBLAS headers.
#pragma once

#include <cuda_runtime.h>
#include <library_types.h>

#include <string>
#include <vector>

namespace shortgpt::cuda {

// The subset of cublas_api.h the backend calls.
using cublasHandle_t = struct cublasContext*;
enum cublasStatus_t : int { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_ALLOC_FAILED = 3 };
enum cublasOperation_t : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasMath_t : int { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2 };
enum cublasComputeType_t : int { CUBLAS_COMPUTE_32F = 68 };
enum cublasGemmAlgo_t : int { CUBLAS_GEMM_DEFAULT = -1 };

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;                        // cublasCreate_v2
  cublasStatus_t (*destroy)(cublasHandle_t) = nullptr;                        // cublasDestroy_v2
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t) = nullptr;       // cublasSetStream_v2
  cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t) = nullptr;    // cublasSetMathMode
  cublasStatus_t (*get_property)(libraryPropertyType, int*) = nullptr;        // cublasGetProperty
  const char* (*status_string)(cublasStatus_t) = nullptr;                     // cublasGetStatusString
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t) = nullptr;  // cublasGemmEx
};

class CublasLibrary {
 public:
  // Loads from the first place that works; throws NativeError
  // ERR_CUDA_UNAVAILABLE listing every place tried and why it failed.
  explicit CublasLibrary(const std::string& user_path);
  ~CublasLibrary();
  CublasLibrary(const CublasLibrary&) = delete;
  CublasLibrary& operator=(const CublasLibrary&) = delete;

  const CublasApi& api() const { return api_; }
  const std::string& path() const { return path_; }
  int version() const { return version_; }  // major * 10000 + minor * 100 + patch

 private:
  bool try_load(const std::string& lib, const std::string& dir, std::vector<std::string>& tried);

  void* lt_ = nullptr;
  void* lib_ = nullptr;
  CublasApi api_;
  std::string path_;
  int version_ = 0;
};

// The places tried for a user path ("" = none), in order (for tests and messages).
std::vector<std::string> cublas_candidates(const std::string& user_path);

// Throws NativeError ERR_CUDA "<what>: <cuBLAS status>" when status is not
// success (ERR_CUDA_OUT_OF_MEMORY when cuBLAS could not allocate).
void check_cublas(const CublasApi& api, cublasStatus_t status, const char* what);

}  // namespace shortgpt::cuda
