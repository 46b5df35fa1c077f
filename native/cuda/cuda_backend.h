// The CUDA backend (backend.h) on one device: the same block as the CPU
// backend (engine/cpu_backend.h), with the residual stream, norms and
// softmax in f32 and the matmuls on cuBLAS tensor cores:
//
//   x -> rmsnorm -> Q K V (+bias) -> [QK-norm] -> RoPE -> attention (K, V
//     rounded to f16 with an F16 cache) -> output (+bias) -> [post-norm] -> x += ...
//     -> rmsnorm -> gate, up -> SwiGLU | GeGLU -> down (+bias) -> [post-norm] -> x += ...
//
// Weights stay in device memory in the file's format. A matmul over many
// rows dequantizes the weight (cpu/block_values.h's formulas) into an f16
// scratch a slice of rows at a time and runs cublasGemmEx with f16 inputs and
// f32 accumulation (f32 and bf16 weights go to cuBLAS as they are); a matmul
// over a few rows (decoding) runs the quantized mat-vec kernel instead.
//
// Blocks whose weights do not fit the VRAM budget are streamed: their bytes
// go from the mapped file into a pinned staging buffer and then, on a copy
// stream, into one of two device slots; the next streamed block is staged
// while the current one computes (events order the reuse of slots and
// staging buffers).
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <memory>
#include <vector>

#include "cuda/cublas_loader.h"
#include "cuda/cuda_backend_factory.h"
#include "cuda/cuda_util.cuh"
#include "cuda/kernels.cuh"
#include "cuda/matmul.cuh"
#include "engine/backend.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/rope.h"

namespace shortgpt::cuda {

// One block's weights in device memory.
struct DeviceBlock {
  DeviceMatrix q, k, v, qkv, output, gate, up, down;
  const float* attn_norm = nullptr;
  const float *q_bias = nullptr, *k_bias = nullptr, *v_bias = nullptr, *qkv_bias = nullptr, *output_bias = nullptr;
  const float *q_norm = nullptr, *k_norm = nullptr, *post_attn_norm = nullptr, *ffn_norm = nullptr;
  const float *gate_bias = nullptr, *up_bias = nullptr, *down_bias = nullptr, *post_ffn_norm = nullptr;
};

// Where each tensor of a block goes in one contiguous device range (each
// tensor 256-byte aligned), and where it comes from on the host.
struct BlockLayout {
  struct Item {
    const void* host = nullptr;
    int64_t bytes = 0;
    int64_t offset = 0;
  };
  struct MatrixRef {
    int item = -1;
    DeviceMatrix shape;  // data unset
  };
  std::vector<Item> items;
  int64_t bytes = 0;
  MatrixRef q, k, v, qkv, output, gate, up, down;
  int attn_norm = -1, q_bias = -1, k_bias = -1, v_bias = -1, qkv_bias = -1, output_bias = -1;
  int q_norm = -1, k_norm = -1, post_attn_norm = -1, ffn_norm = -1;
  int gate_bias = -1, up_bias = -1, down_bias = -1, post_ffn_norm = -1;

  // The block's tensors as they sit at `base`.
  DeviceBlock bind(const uint8_t* base) const;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelConfig& config, const ModelWeights& weights, const CudaBackendOptions& options);
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }

  std::unique_ptr<HiddenState> new_state(int64_t rows) override;
  void copy_state(const HiddenState& from, HiddenState& to, int64_t rows) override;
  void embed(const int32_t* tokens, int64_t rows, HiddenState& x) override;
  void run_block(int layer, const BatchLayout& batch, HiddenState& x) override;
  void compare_rows(const HiddenState& a, const HiddenState& b, int64_t rows, RowComparison& out) override;
  void logits(const HiddenState& x, const int64_t* rows, int64_t n_rows, float* out) override;
  bool all_finite(const HiddenState& x, int64_t rows) override;
  std::unique_ptr<KvCache> new_kv_cache(const std::vector<uint8_t>& skip, int64_t max_cells) override;
  void run_block_cached(int layer, int64_t pos0, int64_t n, KvCache& cache, HiddenState& x) override;
  int64_t bytes_per_token(int64_t max_len) const override;
  int64_t bytes_per_state_row() const override;
  int64_t batch_budget(int64_t memory_budget) const override;
  bool device_info(DeviceInfo& out) const override;

  // The device's tally (the KV cache and states count against it too).
  DeviceTally& tally() { return tally_; }
  void activate() const;  // makes this backend's device current on the calling thread

 private:
  struct AttendSpec;
  void release() noexcept;  // frees what the constructor made (idempotent)
  void init_device(const CudaBackendOptions& options);
  void plan_and_upload(int64_t vram_budget, int64_t work_budget, int max_resident);
  BlockLayout layout_block(int layer) const;
  const DeviceBlock& block(int layer);  // resident, or streamed into a slot
  void stage(int layer, int slot);
  void release_slot_after_compute(int layer);
  const float* rope_table(int layer, int64_t positions, int64_t context);
  void block_forward(int layer, int64_t T, float* x, const float* rope_cs, const AttendSpec& attend);
  void linear(const DeviceMatrix& w, const float* x, int64_t T, float* y) { matmul_->run(w, x, T, y); }
  void ensure_work(int64_t T);
  void upload_positions(const std::vector<int32_t>& pos);
  void upload_tiles(const std::vector<AttnTile>& tiles);

  const ModelConfig& config_;
  const ModelWeights& weights_;
  bool kv_f16_ = true;
  int device_ = 0;
  DeviceInfo info_;
  std::unique_ptr<CublasLibrary> cublas_;
  cudaStream_t stream_ = nullptr;       // compute
  cudaStream_t copy_stream_ = nullptr;  // streamed block weights
  DeviceTally tally_;
  int64_t vram_budget_ = 0;
  int64_t work_budget_ = 0;
  int64_t fixed_bytes_ = 0;  // weights, slots, scratch, logits: what batches cannot use

  // Weights: the global tensors, the resident blocks, two slots for the rest.
  DeviceBuffer globals_;
  DeviceMatrix token_embd_, output_;
  const float* output_norm_ = nullptr;
  const float* output_bias_ = nullptr;
  std::vector<BlockLayout> layouts_;
  std::vector<DeviceBuffer> resident_;     // per layer (empty when streamed)
  std::vector<DeviceBlock> bound_;         // per layer, valid for resident layers
  std::array<DeviceBuffer, 2> slots_;
  std::array<uint8_t*, 2> staging_{{nullptr, nullptr}};  // pinned host
  std::array<int, 2> slot_layer_{{-1, -1}};
  std::array<DeviceBlock, 2> slot_bound_;
  std::array<cudaEvent_t, 2> slot_ready_{{nullptr, nullptr}};  // copy into the slot done
  std::array<cudaEvent_t, 2> slot_free_{{nullptr, nullptr}};   // compute with the slot done
  int computing_slot_ = -1;
  int last_slot_ = 1;

  // Work buffers, grown to the largest batch seen.
  DeviceBuffer xn_, q_, k_, v_, attn_, o_, gate_, up_, h_;
  DeviceBuffer positions_, tiles_, tokens_, rows_, cmp_, logits_in_, logits_out_, finite_flag_;
  int64_t work_rows_ = 0;
  std::unique_ptr<DeviceMatmul> matmul_;
  std::vector<int32_t> uploaded_positions_;
  std::vector<AttnTile> uploaded_tiles_;

  struct DeviceRope {
    RopeSetting setting;
    std::unique_ptr<RopeTable> host;
    DeviceBuffer table;
    int64_t positions = 0;
  };
  std::vector<std::unique_ptr<DeviceRope>> ropes_;
};

}  // namespace shortgpt::cuda
