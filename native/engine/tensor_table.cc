#include "engine/tensor_table.h"

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace shortgpt {

namespace {

void validate_one(TensorInfo& t, uint64_t file_size, const std::string& path) {
  const std::string where = "tensor '" + t.name + "' in " + path;
  if (t.name.empty() || t.name.size() >= 64) {
    throw NativeError("ERR_GGUF_TENSOR_NAME",
                      where + ": name must be 1..63 bytes (GGML_MAX_NAME), got " +
                          std::to_string(t.name.size()));
  }
  t.traits = ggml_type_traits(t.type);
  if (!t.traits) {
    throw NativeError("ERR_GGUF_TENSOR_TYPE",
                      where + ": unknown or removed ggml type id " + std::to_string(t.type));
  }
  if (t.n_dims < 0 || t.n_dims > 4) {
    throw NativeError("ERR_GGUF_TENSOR_DIMS",
                      where + ": n_dims must be 0..4, got " + std::to_string(t.n_dims));
  }
  int64_t elements = 1;
  for (int d = 0; d < 4; ++d) {
    if (d >= t.n_dims) t.ne[d] = 1;
    if (t.ne[d] < 0) {
      throw NativeError("ERR_GGUF_TENSOR_DIMS", where + ": negative dimension " +
                                                    std::to_string(t.ne[d]));
    }
    if (t.ne[d] != 0 && elements > std::numeric_limits<int64_t>::max() / t.ne[d]) {
      throw NativeError("ERR_GGUF_TENSOR_DIMS", where + ": element count overflows int64");
    }
    elements *= t.ne[d];
  }
  if (t.ne[0] % t.traits->block_elems != 0) {
    throw NativeError("ERR_GGUF_TENSOR_DIMS",
                      where + ": ne[0]=" + std::to_string(t.ne[0]) + " is not a multiple of " +
                          t.traits->name + "'s block size " +
                          std::to_string(t.traits->block_elems));
  }
  const uint64_t expected =
      static_cast<uint64_t>(elements / t.traits->block_elems) *
      static_cast<uint64_t>(t.traits->block_bytes);
  if (t.nbytes != expected) {
    throw NativeError("ERR_TENSOR_SIZE", where + ": byte size " + std::to_string(t.nbytes) +
                                             " does not match type x dims = " +
                                             std::to_string(expected));
  }
  if (t.offset > file_size || t.nbytes > file_size - t.offset) {
    throw NativeError("ERR_TENSOR_BOUNDS",
                      where + ": bytes [" + std::to_string(t.offset) + ", " +
                          std::to_string(t.offset + t.nbytes) + ") lie outside the file (" +
                          std::to_string(file_size) + " bytes)");
  }
}

}  // namespace

TensorTable::TensorTable(std::vector<TensorInfo> tensors, uint64_t file_size,
                         const std::string& path)
    : tensors_(std::move(tensors)) {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    validate_one(tensors_[i], file_size, path);
    if (!by_name_.emplace(tensors_[i].name, i).second) {
      throw NativeError("ERR_GGUF_DUPLICATE_TENSOR",
                        "tensor '" + tensors_[i].name + "' appears twice in " + path);
    }
  }
  // Overlap check on a sorted copy of (offset, index); empty tensors cannot overlap.
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  const TensorInfo* prev = nullptr;
  for (size_t idx : order) {
    const TensorInfo& t = tensors_[idx];
    if (t.nbytes == 0) continue;
    if (prev && prev->offset + prev->nbytes > t.offset) {
      throw NativeError("ERR_TENSOR_OVERLAP", "tensors '" + prev->name + "' and '" + t.name +
                                                  "' overlap in " + path);
    }
    prev = &t;
  }
}

const TensorInfo* TensorTable::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace shortgpt
