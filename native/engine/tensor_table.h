// The tensor table TypeScript hands over (from its GGUF reader), re-validated
// here against the mapped file: the addon trusts nothing it did not check.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ggml_type.h"

namespace shortgpt {

struct TensorInfo {
  std::string name;
  int32_t type = 0;
  int32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;           // absolute offset in the file
  uint64_t nbytes = 0;           // as claimed by the caller; checked against type x dims
  const GgmlTypeTraits* traits = nullptr;  // filled in by validation

  int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
};

class TensorTable {
 public:
  // Checks every tensor against a file of `file_size` bytes: known type,
  // dims in range, ne[0] a multiple of the block size, byte size equal to
  // type x dims, inside the file, and no two tensors overlapping.
  // Throws NativeError (ERR_GGUF_*, ERR_TENSOR_*) naming the tensor.
  TensorTable(std::vector<TensorInfo> tensors, uint64_t file_size, const std::string& path);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorInfo* find(const std::string& name) const;

 private:
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace shortgpt
