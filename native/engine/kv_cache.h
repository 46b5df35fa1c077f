// The CPU backend's KV cache (backend.h KvCache): per block, K and V rows of
// one sequence in host memory, cell c = position c, row-major
// [cell][n_head_kv * head_dim]. F16 stores what llama.cpp's default cache
// stores (the f32 projections rounded to nearest-even fp16, the same rounding
// the batched attention applies); F32 keeps them as they are.
//
// Storage grows with the cells written (doubling, capped at max_cells), so a
// generation that stops early holds at most twice what it used, never the
// model's whole training context. Skipped blocks hold nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/cpu_features.h"
#include "engine/backend.h"
#include "engine/model_config.h"

namespace shortgpt {

// One block's cells as the attention reads them.
struct KvBlockView {
  bool f16 = true;
  const uint16_t* k16 = nullptr;  // f16: cell c, KV head g at k16 + c * k_row + g * head_dim_k
  const uint16_t* v16 = nullptr;
  const float* k32 = nullptr;     // f32: the same layout
  const float* v32 = nullptr;
  int64_t k_row = 0;              // elements per cell
  int64_t v_row = 0;
  int64_t cells = 0;              // cells written
};

// What a KV cache holds per block, whatever memory it uses: whether it keeps
// the block (not skipped) and the elements of one cell's K and V rows.
struct KvBlockShape {
  bool kept = false;
  int64_t k_row = 0, v_row = 0;
};

// The shapes of every block for a cache made with `skip` (n_layer entries,
// nonzero = skipped) and room for at most `max_cells` cells; throws
// ERR_INVALID_ARG for a mask of the wrong length or max_cells < 1.
std::vector<KvBlockShape> kv_block_shapes(const ModelConfig& config, const std::vector<uint8_t>& skip, int64_t max_cells);

class HostKvCache final : public KvCache {
 public:
  // skip: n_layer entries (nonzero = the block is skipped and holds nothing).
  HostKvCache(const ModelConfig& config, const std::vector<uint8_t>& skip, bool f16, int64_t max_cells);

  int64_t max_cells() const override { return max_cells_; }
  int64_t bytes() const override;

  // Writes the K and V rows of positions [cell0, cell0 + n) of block `layer`
  // (row r of k at k + r * k_stride, n_head_kv * head_dim_k values; v alike),
  // growing the block's storage. Cells must be written in order: cell0 is at
  // most the cells already written.
  void store(int layer, int64_t cell0, int64_t n, const float* k, int64_t k_stride, const float* v,
             int64_t v_stride, SimdLevel level);

  KvBlockView view(int layer) const;

 private:
  struct Block : KvBlockShape {
    explicit Block(const KvBlockShape& shape) : KvBlockShape(shape) {}
    int64_t capacity = 0, cells = 0;
    std::vector<uint16_t> k16, v16;
    std::vector<float> k32, v32;
  };
  void grow(Block& b, int64_t needed);

  bool f16_;
  int64_t max_cells_;
  std::vector<Block> blocks_;
};

}  // namespace shortgpt
