#include "engine/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"
#include "cpu/ops.h"

namespace shortgpt {

namespace {

// A fresh cache starts with room for this many cells (or max_cells): below
// it, growing costs more copies than the memory saved.
constexpr int64_t kMinCells = 64;

}  // namespace

std::vector<KvBlockShape> kv_block_shapes(const ModelConfig& config, const std::vector<uint8_t>& skip, int64_t max_cells) {
  if (static_cast<int>(skip.size()) != config.n_layer) {
    throw NativeError("ERR_INVALID_ARG", "the KV cache's skip mask needs one entry per block");
  }
  if (max_cells < 1) throw NativeError("ERR_INVALID_ARG", "a KV cache needs at least one cell");
  std::vector<KvBlockShape> shapes(static_cast<size_t>(config.n_layer));
  for (int i = 0; i < config.n_layer; ++i) {
    const BlockConfig& bc = config.blocks[static_cast<size_t>(i)];
    KvBlockShape& s = shapes[static_cast<size_t>(i)];
    s.kept = skip[static_cast<size_t>(i)] == 0;
    s.k_row = int64_t(bc.n_head_kv) * config.head_dim_k;
    s.v_row = int64_t(bc.n_head_kv) * config.head_dim_v;
  }
  return shapes;
}

HostKvCache::HostKvCache(const ModelConfig& config, const std::vector<uint8_t>& skip, bool f16, int64_t max_cells)
    : f16_(f16), max_cells_(max_cells) {
  for (const KvBlockShape& s : kv_block_shapes(config, skip, max_cells)) blocks_.emplace_back(s);
}

int64_t HostKvCache::bytes() const {
  const int64_t elem = f16_ ? 2 : 4;
  int64_t total = 0;
  for (const Block& b : blocks_) total += b.capacity * (b.k_row + b.v_row) * elem;
  return total;
}

void HostKvCache::grow(Block& b, int64_t needed) {
  if (needed <= b.capacity) return;
  if (needed > max_cells_) {
    throw NativeError("ERR_CONTEXT_LENGTH", "position " + std::to_string(needed - 1) + " is beyond the " +
                                                std::to_string(max_cells_) + " cells of this KV cache");
  }
  const int64_t cap = std::min(max_cells_, std::max({needed, 2 * b.capacity, kMinCells}));
  if (f16_) {
    b.k16.resize(static_cast<size_t>(cap * b.k_row));
    b.v16.resize(static_cast<size_t>(cap * b.v_row));
  } else {
    b.k32.resize(static_cast<size_t>(cap * b.k_row));
    b.v32.resize(static_cast<size_t>(cap * b.v_row));
  }
  b.capacity = cap;
}

void HostKvCache::store(int layer, int64_t cell0, int64_t n, const float* k, int64_t k_stride, const float* v,
                        int64_t v_stride, SimdLevel level) {
  if (layer < 0 || layer >= static_cast<int>(blocks_.size()) || !blocks_[static_cast<size_t>(layer)].kept) {
    throw NativeError("ERR_INTERNAL", "the KV cache holds no block " + std::to_string(layer));
  }
  Block& b = blocks_[static_cast<size_t>(layer)];
  if (cell0 < 0 || cell0 > b.cells || n < 0) throw NativeError("ERR_INTERNAL", "KV cache cells must be written in order");
  grow(b, cell0 + n);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t c = cell0 + r;
    if (f16_) {
      cpu::f32_to_f16(b.k16.data() + c * b.k_row, k + r * k_stride, b.k_row, level);
      cpu::f32_to_f16(b.v16.data() + c * b.v_row, v + r * v_stride, b.v_row, level);
    } else {
      std::memcpy(b.k32.data() + c * b.k_row, k + r * k_stride, sizeof(float) * static_cast<size_t>(b.k_row));
      std::memcpy(b.v32.data() + c * b.v_row, v + r * v_stride, sizeof(float) * static_cast<size_t>(b.v_row));
    }
  }
  b.cells = cell0 + n;
}

KvBlockView HostKvCache::view(int layer) const {
  const Block& b = blocks_.at(static_cast<size_t>(layer));
  KvBlockView out;
  out.f16 = f16_;
  out.k16 = b.k16.data();
  out.v16 = b.v16.data();
  out.k32 = b.k32.data();
  out.v32 = b.v32.data();
  out.k_row = b.k_row;
  out.v_row = b.v_row;
  out.cells = b.cells;
  return out;
}

}  // namespace shortgpt
