// One open model: the mapped file, its validated tensor table, the bound
// weights, and a backend; and the things the engine does with them (the
// first three over batches sized by the memory budget):
//
//   logits        one sequence, the logits of chosen positions
//   perplexity    llama-perplexity chunks, the NLL of positions [first, ctx-2]
//   hidden_stats  independent windows, the hook sums of every block boundary
//   generate      greedy continuation of a prompt with a KV cache (decode.h)
//
// All take a skip mask (blocks run as identity) and a RunControl
// (cancellation between blocks and batches, progress in sequences).
// One call runs at a time per engine: calls on the same engine serialize.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/cpu_backend.h"
#include "engine/decode.h"
#include "engine/hidden_stats.h"
#include "engine/mapped_file.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/tensor_table.h"

namespace shortgpt {

enum class Device { Cpu, Cuda };

struct EngineOptions {
  int threads = 1;
  KvPrecision kv = KvPrecision::F16;
  int64_t memory_budget = int64_t(512) << 20;
  // Cuda: the CUDA backend (cuda/cuda_backend.h), in an addon built with it;
  // ERR_CUDA_UNAVAILABLE naming what is missing otherwise.
  Device device = Device::Cpu;
  int device_index = 0;
  int64_t vram_budget = 0;  // bytes for resident weights and work buffers; 0: free memory less a margin
  std::string cublas_path;  // a libcublas file or folder to try first; empty: the usual places
  int max_resident_blocks = -1;  // cuda: blocks kept in device memory at most (-1: all that fit)
};

struct EngineControl {
  const std::atomic<bool>* cancel = nullptr;
  // Sequences finished so far (fractional within a batch).
  std::function<void(double sequences_done)> progress;
};

struct ChunkNll {
  double nll = 0;  // sum over scored positions
  int64_t count = 0;
};

class Engine {
 public:
  Engine(const std::string& path, std::vector<TensorInfo> tensors, ModelConfig config, const EngineOptions& options);

  const ModelConfig& config() const { return config_; }
  const char* backend_name() const { return backend_->name(); }
  // CPU threads and SIMD level (the CPU backend's; a GPU backend reports the options').
  int threads() const;
  SimdLevel simd() const;
  int64_t memory_budget() const { return options_.memory_budget; }
  // Per-step times of the CPU backend (zeros on a GPU backend).
  CpuBackend::Profile profile() const;
  void reset_profile();
  // False on the CPU backend.
  bool device_info(DeviceInfo& out) const { return backend_->device_info(out); }

  // Logits at `rows` (positions of `tokens`, one sequence from position 0):
  // rows.size() x n_vocab floats.
  std::vector<float> logits(const std::vector<int32_t>& tokens, const std::vector<int64_t>& rows,
                            const std::vector<uint8_t>& skip, const EngineControl& control);

  // tokens holds n_chunks x ctx ids (each chunk its own sequence); scores
  // positions [first, ctx - 2] against the token after them.
  std::vector<ChunkNll> perplexity(const std::vector<int32_t>& tokens, int64_t ctx, int64_t first,
                                   const std::vector<uint8_t>& skip, const EngineControl& control);

  // Windows are consecutive runs of `tokens` with the given lengths.
  HiddenStatsSums hidden_stats(const std::vector<int32_t>& tokens, const std::vector<int64_t>& lengths,
                               const std::vector<int>& spans, const std::vector<uint8_t>& skip,
                               const EngineControl& control);

  // Greedy continuation of request.prompt (decode.h). The prompt plus
  // max_tokens must fit in context_limit positions (the model's training
  // context, as TypeScript reads it): ERR_CONTEXT_LENGTH otherwise.
  GenerateResult generate(const GenerateRequest& request, int64_t context_limit, const GenerateControl& control);

  // Sequences of `seq_len` tokens per batch under the budget (hooks keep extra states).
  int64_t sequences_per_batch(int64_t seq_len, int max_span) const;

 private:
  void check_tokens(const std::vector<int32_t>& tokens) const;
  void check_skip(const std::vector<uint8_t>& skip) const;

  EngineOptions options_;
  std::unique_ptr<MappedFile> file_;
  std::unique_ptr<TensorTable> table_;
  ModelConfig config_;
  std::unique_ptr<ModelWeights> weights_;
  std::unique_ptr<Backend> backend_;
  CpuBackend* cpu_ = nullptr;  // backend_ when it is the CPU backend
  std::mutex run_mutex_;
};

}  // namespace shortgpt
