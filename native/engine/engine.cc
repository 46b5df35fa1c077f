#include "engine/engine.h"

#include <algorithm>

#include "common/error.h"
#include "engine/batch_plan.h"
#include "engine/forward.h"
#include "engine/log_softmax.h"

#ifdef SHORTGPT_WITH_CUDA
#include "cuda/cuda_backend_factory.h"
#endif

namespace shortgpt {

namespace {

// Logits handed back to JavaScript in one call (rows x vocab floats): beyond
// this a caller should ask for fewer rows.
constexpr int64_t kMaxLogitBytes = int64_t(1) << 31;

}  // namespace

Engine::Engine(const std::string& path, std::vector<TensorInfo> tensors, ModelConfig config,
               const EngineOptions& options)
    : options_(options), config_(std::move(config)) {
  if (options_.memory_budget < (int64_t(16) << 20)) {
    throw NativeError("ERR_INVALID_ARG", "memoryBudget must be at least 16 MiB");
  }
  validate_model_config(config_);
  file_ = std::make_unique<MappedFile>(path);
  table_ = std::make_unique<TensorTable>(std::move(tensors), file_->size(), file_->path());
  weights_ = std::make_unique<ModelWeights>(config_, *table_, *file_);
  file_->check_intact();  // binding the weights read some of them
  if (options_.device == Device::Cuda) {
#ifdef SHORTGPT_WITH_CUDA
    CudaBackendOptions co;
    co.device_index = options_.device_index;
    co.vram_budget = options_.vram_budget;
    co.cublas_path = options_.cublas_path;
    co.kv_f16 = options_.kv == KvPrecision::F16;
    co.work_budget = options_.memory_budget;
    co.max_resident_blocks = options_.max_resident_blocks;
    backend_ = make_cuda_backend(config_, *weights_, co);
#else
    throw NativeError("ERR_CUDA_UNAVAILABLE",
                      "this addon was built without CUDA (the CPU build): device 'cuda' needs the CUDA addon "
                      "(shortgpt_cuda.node, made by `npm run build:cuda`)");
#endif
  } else {
    CpuBackendOptions bo;
    bo.threads = options_.threads;
    bo.kv = options_.kv;
    auto cpu = std::make_unique<CpuBackend>(config_, *weights_, bo);
    cpu_ = cpu.get();
    backend_ = std::move(cpu);
  }
}

int Engine::threads() const { return cpu_ ? cpu_->threads() : options_.threads; }

SimdLevel Engine::simd() const { return cpu_ ? cpu_->simd() : active_simd_level(); }

CpuBackend::Profile Engine::profile() const { return cpu_ ? cpu_->profile() : CpuBackend::Profile{}; }

void Engine::reset_profile() {
  if (cpu_) cpu_->reset_profile();
}

void Engine::check_tokens(const std::vector<int32_t>& tokens) const {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.n_vocab) {
      throw NativeError("ERR_TOKEN_RANGE", "token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                               " is outside the vocabulary (0.." + std::to_string(config_.n_vocab - 1) + ")");
    }
  }
}

void Engine::check_skip(const std::vector<uint8_t>& skip) const {
  if (static_cast<int>(skip.size()) != config_.n_layer) {
    throw NativeError("ERR_INVALID_ARG", "skip mask has " + std::to_string(skip.size()) + " entries, the model has " +
                                             std::to_string(config_.n_layer) + " blocks");
  }
}

int64_t Engine::sequences_per_batch(int64_t seq_len, int max_span) const {
  BatchPlanInput in;
  in.budget_bytes = backend_->batch_budget(options_.memory_budget);
  in.seq_len = seq_len;
  in.bytes_per_token = backend_->bytes_per_token(seq_len);
  in.state_row_bytes = backend_->bytes_per_state_row();
  in.states = max_span > 0 ? ForwardPass::states_for_hooks(max_span) : 1;
  in.fixed_bytes = logits_tile_rows(options_.memory_budget, config_.n_vocab) * int64_t(config_.n_vocab) * 4;
  return shortgpt::sequences_per_batch(in);
}

std::vector<float> Engine::logits(const std::vector<int32_t>& tokens, const std::vector<int64_t>& rows,
                                  const std::vector<uint8_t>& skip, const EngineControl& control) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  file_->check_intact();
  check_skip(skip);
  check_tokens(tokens);
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) throw NativeError("ERR_INVALID_ARG", "tokens must not be empty");
  for (int64_t r : rows) {
    if (r < 0 || r >= n) throw NativeError("ERR_INVALID_ARG", "row " + std::to_string(r) + " is outside 0.." + std::to_string(n - 1));
  }
  const int64_t V = config_.n_vocab;
  if (static_cast<int64_t>(rows.size()) * V * 4 > kMaxLogitBytes) {
    throw NativeError("ERR_INVALID_ARG", "asking for " + std::to_string(rows.size()) + " rows of " + std::to_string(V) +
                                             " logits (over 2 GiB); ask for fewer rows");
  }
  BatchLayout batch;
  batch.add(n);
  RunControl rc;
  rc.cancel = control.cancel;
  rc.weights = file_.get();
  const int L = config_.n_layer;
  if (control.progress) rc.on_block = [&](int done) { control.progress(double(done) / double(L + 1)); };
  auto x = backend_->new_state(n);
  ForwardPass(*backend_, L).run(batch, tokens.data(), skip, nullptr, rc, *x);
  std::vector<float> out(rows.size() * static_cast<size_t>(V));
  const int64_t tile = logits_tile_rows(options_.memory_budget, V);
  for (size_t r0 = 0; r0 < rows.size(); r0 += static_cast<size_t>(tile)) {
    rc.check();
    const int64_t nr = std::min<int64_t>(tile, static_cast<int64_t>(rows.size() - r0));
    backend_->logits(*x, rows.data() + r0, nr, out.data() + r0 * static_cast<size_t>(V));
  }
  file_->check_not_tripped();
  require_finite_logits(out.data(), out.size(), "the logits");
  if (control.progress) control.progress(1.0);
  return out;
}

std::vector<ChunkNll> Engine::perplexity(const std::vector<int32_t>& tokens, int64_t ctx, int64_t first,
                                         const std::vector<uint8_t>& skip, const EngineControl& control) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  file_->check_intact();
  check_skip(skip);
  if (ctx < 2) throw NativeError("ERR_INVALID_ARG", "ctx must be at least 2");
  if (first < 0 || first > ctx - 2) throw NativeError("ERR_INVALID_ARG", "first scored position must be in 0..ctx-2");
  if (tokens.empty() || static_cast<int64_t>(tokens.size()) % ctx != 0) {
    throw NativeError("ERR_INVALID_ARG", "tokens must hold a whole, nonzero number of chunks of ctx tokens");
  }
  check_tokens(tokens);
  const int64_t n_chunks = static_cast<int64_t>(tokens.size()) / ctx;
  const int64_t V = config_.n_vocab;
  const int L = config_.n_layer;
  const int64_t per_batch = sequences_per_batch(ctx, 0);
  const int64_t tile = logits_tile_rows(options_.memory_budget, V);
  std::vector<ChunkNll> result(static_cast<size_t>(n_chunks));
  std::vector<float> logits(static_cast<size_t>(tile * V));
  std::vector<int64_t> rows;
  ForwardPass pass(*backend_, L);
  std::unique_ptr<HiddenState> x;

  for (int64_t c0 = 0; c0 < n_chunks; c0 += per_batch) {
    const int64_t nb = std::min(per_batch, n_chunks - c0);
    BatchLayout batch;
    for (int64_t i = 0; i < nb; ++i) batch.add(ctx);
    if (!x) x = backend_->new_state(batch.tokens());
    RunControl rc;
    rc.cancel = control.cancel;
    rc.weights = file_.get();
    if (control.progress) {
      rc.on_block = [&](int done) { control.progress(double(c0) + double(nb) * double(done) / double(L + 1)); };
    }
    pass.run(batch, tokens.data() + c0 * ctx, skip, nullptr, rc, *x);
    // Every scored row of the batch, in chunk order; logits a tile at a time.
    rows.clear();
    for (int64_t i = 0; i < nb; ++i) {
      for (int64_t p = first; p <= ctx - 2; ++p) rows.push_back(i * ctx + p);
    }
    std::vector<double> nll(rows.size());
    for (size_t r0 = 0; r0 < rows.size(); r0 += static_cast<size_t>(tile)) {
      rc.check();
      const int64_t nr = std::min<int64_t>(tile, static_cast<int64_t>(rows.size() - r0));
      backend_->logits(*x, rows.data() + r0, nr, logits.data());
      for (int64_t k = 0; k < nr; ++k) {
        const int64_t row = rows[r0 + static_cast<size_t>(k)];
        const int32_t next = tokens[static_cast<size_t>(c0 * ctx + row + 1)];
        nll[r0 + static_cast<size_t>(k)] = token_nll(logits.data() + k * V, V, next);
      }
      require_finite_logits(logits.data(), static_cast<size_t>(nr * V), "the logits");
    }
    const int64_t per_chunk = ctx - 1 - first;
    for (int64_t i = 0; i < nb; ++i) {
      ChunkNll& cn = result[static_cast<size_t>(c0 + i)];
      for (int64_t k = 0; k < per_chunk; ++k) cn.nll += nll[static_cast<size_t>(i * per_chunk + k)];
      cn.count = per_chunk;
    }
    file_->check_not_tripped();
    if (control.progress) control.progress(double(c0 + nb));
  }
  return result;
}

GenerateResult Engine::generate(const GenerateRequest& request, int64_t context_limit, const GenerateControl& control) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  file_->check_intact();
  check_skip(request.skip);
  if (request.prompt.empty()) throw NativeError("ERR_INVALID_ARG", "the prompt needs at least one token");
  check_tokens(request.prompt);
  for (int32_t t : request.stop) {
    if (t < 0 || t >= config_.n_vocab) throw NativeError("ERR_TOKEN_RANGE", "stop token " + std::to_string(t) + " is outside the vocabulary");
  }
  if (context_limit < 1 || context_limit > (int64_t(1) << 31)) throw NativeError("ERR_INVALID_ARG", "the context limit must be 1..2^31");
  const int64_t P = static_cast<int64_t>(request.prompt.size());
  if (request.max_tokens < 1) throw NativeError("ERR_INVALID_ARG", "maxTokens must be at least 1");
  if (request.max_tokens > context_limit - P) {
    throw NativeError("ERR_CONTEXT_LENGTH", "a prompt of " + std::to_string(P) + " tokens plus " + std::to_string(request.max_tokens) +
                                                " new tokens does not fit in the model's context of " + std::to_string(context_limit) + " tokens");
  }
  if (request.keep_logits && request.max_tokens * int64_t(config_.n_vocab) * 4 > kMaxLogitBytes) {
    throw NativeError("ERR_INVALID_ARG", "keeping the logits of " + std::to_string(request.max_tokens) + " tokens needs over 2 GiB; ask for fewer tokens");
  }
  GenerateControl checked = control;
  checked.weights = file_.get();
  GenerateResult result = generate_greedy(*backend_, config_, request, checked);
  file_->check_not_tripped();
  return result;
}

HiddenStatsSums Engine::hidden_stats(const std::vector<int32_t>& tokens, const std::vector<int64_t>& lengths,
                                     const std::vector<int>& spans, const std::vector<uint8_t>& skip,
                                     const EngineControl& control) {
  std::lock_guard<std::mutex> lock(run_mutex_);
  file_->check_intact();
  check_skip(skip);
  check_tokens(tokens);
  int64_t total = 0, longest = 0;
  for (int64_t len : lengths) {
    if (len < 1) throw NativeError("ERR_INVALID_ARG", "every window needs at least one token");
    total += len;
    longest = std::max(longest, len);
  }
  if (lengths.empty() || total != static_cast<int64_t>(tokens.size())) {
    throw NativeError("ERR_INVALID_ARG", "window lengths must be nonempty and add up to the number of tokens");
  }
  const int L = config_.n_layer;
  std::vector<int> sorted = spans;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (int n : sorted) {
    if (n < 1 || n > L) throw NativeError("ERR_INVALID_ARG", "span " + std::to_string(n) + " is outside 1.." + std::to_string(L));
  }
  HiddenStatsSums sums(L, sorted);
  const int64_t per_batch = sequences_per_batch(longest, sums.max_span());
  ForwardPass pass(*backend_, L);
  std::unique_ptr<HiddenState> x;
  size_t w0 = 0;
  int64_t offset = 0;
  while (w0 < lengths.size()) {
    const size_t nb = std::min(static_cast<size_t>(per_batch), lengths.size() - w0);
    BatchLayout batch;
    for (size_t i = 0; i < nb; ++i) batch.add(lengths[w0 + i]);
    if (!x) x = backend_->new_state(batch.tokens());
    RunControl rc;
    rc.cancel = control.cancel;
    rc.weights = file_.get();
    if (control.progress) {
      rc.on_block = [&](int done) { control.progress(double(w0) + double(nb) * double(done) / double(L)); };
    }
    pass.run(batch, tokens.data() + offset, skip, &sums, rc, *x);
    file_->check_not_tripped();
    offset += batch.tokens();
    w0 += nb;
    if (control.progress) control.progress(double(w0));
  }
  return sums;
}

}  // namespace shortgpt
