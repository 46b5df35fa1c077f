#include "cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/ggml_type.h"
#include "cpu/weight_types.h"
#include "engine/attention_kernels.h"
#include "engine/batch_plan.h"
#include "engine/kv_cache.h"

namespace shortgpt::cuda {

namespace {

constexpr int64_t kAlign = 256;
// Device memory the CUDA context, cuBLAS's workspace and fragmentation need
// beyond what this backend allocates, when the budget is the free memory.
constexpr int64_t kDefaultMargin = int64_t(768) << 20;
// The f16 weight slice a quantized matmul dequantizes at once.
constexpr int64_t kWeightScratchBytes = int64_t(128) << 20;

int64_t align_up(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct CudaState final : HiddenState {
  DeviceBuffer x;
  int64_t rows = 0;
};

CudaState& cuda_state(HiddenState& s) { return static_cast<CudaState&>(s); }
const CudaState& cuda_state(const HiddenState& s) { return static_cast<const CudaState&>(s); }

DeviceMatrix shape_of(const Matrix& m) {
  DeviceMatrix d;
  d.type = m.w.type;
  d.n_in = m.w.n_in;
  d.n_out = m.w.n_out;
  d.row_bytes = static_cast<int64_t>(m.w.row_bytes);
  return d;
}

// Throws ERR_UNSUPPORTED_TYPE naming the tensor unless the CUDA kernels
// decode its type. The CPU's list is the same today; checking the device's own
// list keeps a type added to the CPU alone from failing mid-run here.
void require_device_type(const Matrix& m) {
  if (device_type_supported(m.w.type)) return;
  cpu::require_supported_weight(m.w.type, m.name);  // the CPU's message for a type nobody reads
  throw NativeError("ERR_UNSUPPORTED_TYPE", "tensor " + m.name + " has type " + std::to_string(m.w.type) +
                                                ", which the CUDA kernels cannot read: use device 'cpu'");
}

int64_t matrix_bytes(const Matrix& m) { return m.present() ? static_cast<int64_t>(m.w.row_bytes) * m.w.n_out : 0; }

// The KV cache in device memory: per kept block, K and V rows of one
// sequence, f16 (llama.cpp's default cache) or f32, grown by doubling.
class DeviceKvCache final : public KvCache {
 public:
  DeviceKvCache(const ModelConfig& config, const std::vector<uint8_t>& skip, bool f16, int64_t max_cells,
                DeviceTally* tally, cudaStream_t stream)
      : f16_(f16), max_cells_(max_cells), tally_(tally), stream_(stream) {
    for (const KvBlockShape& s : kv_block_shapes(config, skip, max_cells)) blocks_.emplace_back(s);
  }

  int64_t max_cells() const override { return max_cells_; }
  int64_t bytes() const override {
    int64_t total = 0;
    for (const Block& b : blocks_) total += b.capacity * (b.k_row + b.v_row) * elem();
    return total;
  }
  bool f16() const { return f16_; }

  struct Block : KvBlockShape {
    explicit Block(const KvBlockShape& shape) : KvBlockShape(shape) {}
    int64_t capacity = 0, cells = 0;
    DeviceBuffer k, v;
  };

  // Room for cells [0, needed) of block `layer`, keeping what is there.
  Block& reserve(int layer, int64_t needed) {
    if (layer < 0 || layer >= static_cast<int>(blocks_.size()) || !blocks_[static_cast<size_t>(layer)].kept) {
      throw NativeError("ERR_INTERNAL", "the KV cache holds no block " + std::to_string(layer));
    }
    Block& b = blocks_[static_cast<size_t>(layer)];
    if (needed <= b.capacity) return b;
    if (needed > max_cells_) {
      throw NativeError("ERR_CONTEXT_LENGTH", "position " + std::to_string(needed - 1) + " is beyond the " +
                                                  std::to_string(max_cells_) + " cells of this KV cache");
    }
    const int64_t cap = std::min(max_cells_, std::max({needed, 2 * b.capacity, int64_t(64)}));
    DeviceBuffer k(cap * b.k_row * elem(), tally_, "the KV cache");
    DeviceBuffer v(cap * b.v_row * elem(), tally_, "the KV cache");
    if (b.cells > 0) {
      check(cudaMemcpyAsync(k.get(), b.k.get(), static_cast<size_t>(b.cells * b.k_row * elem()), cudaMemcpyDeviceToDevice, stream_), "KV cache grow");
      check(cudaMemcpyAsync(v.get(), b.v.get(), static_cast<size_t>(b.cells * b.v_row * elem()), cudaMemcpyDeviceToDevice, stream_), "KV cache grow");
    }
    // The old buffers are freed below: the copies (and attention reading them) finish first.
    check(cudaStreamSynchronize(stream_), "KV cache grow");
    b.k = std::move(k);
    b.v = std::move(v);
    b.capacity = cap;
    return b;
  }

 private:
  int64_t elem() const { return f16_ ? 2 : 4; }
  bool f16_;
  int64_t max_cells_;
  DeviceTally* tally_;
  cudaStream_t stream_;
  std::vector<Block> blocks_;
};

// A kernel from this build, to ask the device whether the build has code for it.
__global__ void probe_kernel(int* out) {
  if (out) *out = 1;
}

}  // namespace

// How the attention step of block_forward reads K and V.
struct CudaBackend::AttendSpec {
  DeviceKvCache* cache = nullptr;  // null: the batch's own K and V
  int64_t pos0 = 0;
};

DeviceBlock BlockLayout::bind(const uint8_t* base) const {
  auto mat = [&](const MatrixRef& r) {
    DeviceMatrix m = r.shape;
    m.data = r.item >= 0 ? base + items[static_cast<size_t>(r.item)].offset : nullptr;
    return m;
  };
  auto vec = [&](int item) {
    return item >= 0 ? reinterpret_cast<const float*>(base + items[static_cast<size_t>(item)].offset) : nullptr;
  };
  DeviceBlock b;
  b.q = mat(q);
  b.k = mat(k);
  b.v = mat(v);
  b.qkv = mat(qkv);
  b.output = mat(output);
  b.gate = mat(gate);
  b.up = mat(up);
  b.down = mat(down);
  b.attn_norm = vec(attn_norm);
  b.q_bias = vec(q_bias);
  b.k_bias = vec(k_bias);
  b.v_bias = vec(v_bias);
  b.qkv_bias = vec(qkv_bias);
  b.output_bias = vec(output_bias);
  b.q_norm = vec(q_norm);
  b.k_norm = vec(k_norm);
  b.post_attn_norm = vec(post_attn_norm);
  b.ffn_norm = vec(ffn_norm);
  b.gate_bias = vec(gate_bias);
  b.up_bias = vec(up_bias);
  b.down_bias = vec(down_bias);
  b.post_ffn_norm = vec(post_ffn_norm);
  return b;
}

CudaBackend::CudaBackend(const ModelConfig& config, const ModelWeights& weights, const CudaBackendOptions& options)
    : config_(config), weights_(weights), kv_f16_(options.kv_f16) {
  // What the attention kernel takes, refused before any device work rather than
  // at the first block of the first call.
  if (config_.head_dim_k > kAttnMaxHeadDim || config_.head_dim_v > kAttnMaxHeadDim) {
    throw NativeError("ERR_UNSUPPORTED_MODEL", "the CUDA attention takes head sizes up to " +
                                                   std::to_string(kAttnMaxHeadDim) + "; this model's are " +
                                                   std::to_string(config_.head_dim_k) + " (K) and " +
                                                   std::to_string(config_.head_dim_v) + " (V): use device 'cpu'");
  }
  try {
    init_device(options);
    // Every tensor's type must be one the kernels decode (the CPU's list).
    for (int i = 0; i < config_.n_layer; ++i) layouts_.push_back(layout_block(i));
    work_budget_ = options.work_budget;
    plan_and_upload(vram_budget_, work_budget_, options.max_resident_blocks);
  } catch (...) {
    release();  // the destructor does not run for a constructor that throws
    throw;
  }
}

CudaBackend::~CudaBackend() { release(); }

void CudaBackend::release() noexcept {
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  if (copy_stream_) cudaStreamSynchronize(copy_stream_);
  for (cudaEvent_t e : slot_ready_) {
    if (e) cudaEventDestroy(e);
  }
  for (cudaEvent_t e : slot_free_) {
    if (e) cudaEventDestroy(e);
  }
  for (uint8_t*& p : staging_) {
    if (p) cudaFreeHost(p);
    p = nullptr;
  }
  slot_ready_ = {{nullptr, nullptr}};
  slot_free_ = {{nullptr, nullptr}};
  matmul_.reset();
  ropes_.clear();
  for (DeviceBuffer& b : resident_) b = DeviceBuffer();
  for (DeviceBuffer& b : slots_) b = DeviceBuffer();
  globals_ = DeviceBuffer();
  if (stream_) cudaStreamDestroy(stream_);
  if (copy_stream_) cudaStreamDestroy(copy_stream_);
  stream_ = copy_stream_ = nullptr;
  cudaGetLastError();  // nothing sticky left for the next user of this thread
  // The work buffers free themselves (members), on this device.
}

void CudaBackend::activate() const { check(cudaSetDevice(device_), "cudaSetDevice"); }

void CudaBackend::init_device(const CudaBackendOptions& options) {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (driver == 0) {
      throw NativeError("ERR_CUDA_UNAVAILABLE",
                        "no NVIDIA driver found (libcuda.so.1 is not loadable): the CUDA backend needs the NVIDIA "
                        "driver and a GPU; use device 'cpu'");
    }
    throw NativeError("ERR_CUDA_UNAVAILABLE", std::string("CUDA found no usable device: ") + cudaGetErrorString(err) +
                                                  " (driver supports CUDA " + std::to_string(driver / 1000) + "." +
                                                  std::to_string(driver % 1000 / 10) + ", the addon's runtime is " +
                                                  std::to_string(runtime / 1000) + "." +
                                                  std::to_string(runtime % 1000 / 10) + ")");
  }
  if (count == 0) throw NativeError("ERR_CUDA_UNAVAILABLE", "the NVIDIA driver reports no CUDA device");
  if (options.device_index < 0 || options.device_index >= count) {
    throw NativeError("ERR_CUDA_UNAVAILABLE", "deviceIndex " + std::to_string(options.device_index) +
                                                  " is out of range: this machine has " + std::to_string(count) +
                                                  " CUDA device(s)");
  }
  device_ = options.device_index;
  check(cudaSetDevice(device_), "cudaSetDevice");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
  cudaFuncAttributes attr;
  if (cudaFuncGetAttributes(&attr, probe_kernel) != cudaSuccess) {
    cudaGetLastError();
    throw NativeError("ERR_CUDA_UNAVAILABLE", std::string("this build has no code for ") + prop.name +
                                                  " (compute capability " + std::to_string(prop.major) + "." +
                                                  std::to_string(prop.minor) + "); rebuild with its architecture");
  }
  info_.index = device_;
  info_.name = prop.name;
  info_.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
  info_.compute_major = prop.major;
  info_.compute_minor = prop.minor;
  info_.driver_version = driver;
  info_.runtime_version = runtime;

  cublas_ = std::make_unique<CublasLibrary>(options.cublas_path);
  info_.cublas_version = cublas_->version();
  info_.cublas_path = cublas_->path();

  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking), "cudaStreamCreate");

  size_t free_bytes = 0, total_bytes = 0;
  check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  vram_budget_ = options.vram_budget > 0 ? options.vram_budget
                                         : std::max<int64_t>(0, static_cast<int64_t>(free_bytes) - kDefaultMargin);
}

BlockLayout CudaBackend::layout_block(int layer) const {
  const BlockWeights& w = weights_.block(layer);
  BlockLayout L;
  auto add = [&](const void* host, int64_t bytes) {
    BlockLayout::Item it;
    it.host = host;
    it.bytes = bytes;
    it.offset = L.bytes;
    L.bytes = align_up(L.bytes + bytes);
    L.items.push_back(it);
    return static_cast<int>(L.items.size() - 1);
  };
  auto mat = [&](const Matrix& m, BlockLayout::MatrixRef& ref) {
    if (!m.present()) return;
    require_device_type(m);
    ref.shape = shape_of(m);
    ref.item = add(m.w.data, matrix_bytes(m));
  };
  auto vec = [&](const Vec& v, int& item) {
    if (!v.empty()) item = add(v.data(), static_cast<int64_t>(v.size() * sizeof(float)));
  };
  mat(w.q, L.q);
  mat(w.k, L.k);
  mat(w.v, L.v);
  mat(w.qkv, L.qkv);
  mat(w.output, L.output);
  mat(w.gate, L.gate);
  mat(w.up, L.up);
  mat(w.down, L.down);
  vec(w.attn_norm, L.attn_norm);
  vec(w.q_bias, L.q_bias);
  vec(w.k_bias, L.k_bias);
  vec(w.v_bias, L.v_bias);
  vec(w.qkv_bias, L.qkv_bias);
  vec(w.output_bias, L.output_bias);
  vec(w.q_norm, L.q_norm);
  vec(w.k_norm, L.k_norm);
  vec(w.post_attn_norm, L.post_attn_norm);
  vec(w.ffn_norm, L.ffn_norm);
  vec(w.gate_bias, L.gate_bias);
  vec(w.up_bias, L.up_bias);
  vec(w.down_bias, L.down_bias);
  vec(w.post_ffn_norm, L.post_ffn_norm);
  return L;
}

void CudaBackend::plan_and_upload(int64_t budget, int64_t work_budget, int max_resident) {
  // Global tensors: the embedding (and the output matrix unless tied to it),
  // the final norm and bias. Always resident.
  const Matrix& emb = weights_.token_embd();
  const Matrix& out = weights_.output();
  const bool tied = out.w.data == emb.w.data;
  for (const Matrix* m : {&emb, &out}) {
    require_device_type(*m);
  }
  const int64_t emb_bytes = matrix_bytes(emb), out_bytes = tied ? 0 : matrix_bytes(out);
  const int64_t norm_bytes = config_.n_embd * int64_t(sizeof(float));
  const int64_t bias_bytes = static_cast<int64_t>(weights_.output_bias().size() * sizeof(float));
  const int64_t global_bytes = align_up(emb_bytes) + align_up(out_bytes) + align_up(norm_bytes) + align_up(bias_bytes);

  // What the work buffers need at the largest batch (llama.cpp's n_batch
  // tokens), the dequantization scratch, and a tile of logits.
  int64_t largest_matrix = out.w.n_out * out.w.n_in;
  for (int i = 0; i < config_.n_layer; ++i) {
    const BlockWeights& w = weights_.block(i);
    for (const Matrix* m : {&w.q, &w.k, &w.v, &w.qkv, &w.output, &w.gate, &w.up, &w.down}) {
      if (m->present()) largest_matrix = std::max(largest_matrix, m->w.n_out * m->w.n_in);
    }
  }
  const int64_t wscratch_bytes = std::min<int64_t>(kWeightScratchBytes, largest_matrix * 2);
  const int64_t logits_reserve = int64_t(256) * config_.n_vocab * 4 + int64_t(256) * config_.n_embd * 8;
  const int64_t work_reserve =
      std::min<int64_t>(work_budget, kMaxBatchTokens * (bytes_per_token(0) + 4 * bytes_per_state_row()));
  const int64_t fixed = global_bytes + wscratch_bytes + logits_reserve + work_reserve;

  int64_t blocks_total = 0, largest_block = 0;
  for (const BlockLayout& L : layouts_) {
    blocks_total += L.bytes;
    largest_block = std::max(largest_block, L.bytes);
  }
  if (fixed + 2 * largest_block > budget && fixed + blocks_total > budget) {
    throw NativeError("ERR_CUDA_OUT_OF_MEMORY",
                      "the VRAM budget of " + std::to_string(budget >> 20) + " MiB cannot hold the embeddings, " +
                          "two streamed blocks and the work buffers (" +
                          std::to_string((fixed + 2 * largest_block) >> 20) + " MiB); raise vramBudget");
  }
  // Resident blocks in order while they fit; the rest stream through two slots.
  const bool all_fit = fixed + blocks_total <= budget && (max_resident < 0 || max_resident >= config_.n_layer);
  int64_t room = all_fit ? blocks_total : budget - fixed - 2 * largest_block;
  std::vector<bool> resident(layouts_.size(), false);
  for (size_t i = 0; i < layouts_.size(); ++i) {
    if (max_resident >= 0 && static_cast<int>(i) >= max_resident) break;
    if (layouts_[i].bytes <= room) {
      resident[i] = true;
      room -= layouts_[i].bytes;
    } else {
      break;
    }
  }

  // Upload the globals.
  globals_ = DeviceBuffer(global_bytes, &tally_, "the embedding and output weights");
  uint8_t* g = globals_.as<uint8_t>();
  int64_t at = 0;
  auto put = [&](const void* host, int64_t bytes) {
    uint8_t* dst = g + at;
    if (bytes > 0) check(cudaMemcpy(dst, host, static_cast<size_t>(bytes), cudaMemcpyHostToDevice), "upload weights");
    at += align_up(bytes);
    return dst;
  };
  token_embd_ = shape_of(emb);
  token_embd_.data = put(emb.w.data, emb_bytes);
  output_ = shape_of(out);
  output_.data = tied ? token_embd_.data : put(out.w.data, out_bytes);
  output_norm_ = reinterpret_cast<const float*>(put(weights_.output_norm().data(), norm_bytes));
  output_bias_ = bias_bytes > 0 ? reinterpret_cast<const float*>(put(weights_.output_bias().data(), bias_bytes)) : nullptr;

  // Resident blocks: each in one range, tensors copied from the mapped file.
  resident_.resize(layouts_.size());
  bound_.resize(layouts_.size());
  for (size_t i = 0; i < layouts_.size(); ++i) {
    if (!resident[i]) continue;
    const BlockLayout& L = layouts_[i];
    resident_[i] = DeviceBuffer(L.bytes, &tally_, "block weights");
    for (const BlockLayout::Item& it : L.items) {
      check(cudaMemcpy(resident_[i].as<uint8_t>() + it.offset, it.host, static_cast<size_t>(it.bytes), cudaMemcpyHostToDevice),
            "upload block weights");
    }
    bound_[i] = L.bind(resident_[i].as<uint8_t>());
    ++info_.resident_blocks;
  }
  info_.streamed_blocks = static_cast<int>(layouts_.size()) - info_.resident_blocks;
  if (info_.streamed_blocks > 0) {
    for (int s = 0; s < 2; ++s) {
      slots_[static_cast<size_t>(s)] = DeviceBuffer(largest_block, &tally_, "streamed block weights");
      void* p = nullptr;
      check(cudaHostAlloc(&p, static_cast<size_t>(largest_block), cudaHostAllocDefault), "pinned staging for streamed blocks");
      staging_[static_cast<size_t>(s)] = static_cast<uint8_t*>(p);
      check(cudaEventCreateWithFlags(&slot_ready_[static_cast<size_t>(s)], cudaEventDisableTiming), "cudaEventCreate");
      check(cudaEventCreateWithFlags(&slot_free_[static_cast<size_t>(s)], cudaEventDisableTiming), "cudaEventCreate");
    }
  }
  // cudaMemcpy from pageable (here: mapped) memory returns once the bytes are
  // staged, possibly before the DMA to the device is done, and on the legacy
  // stream, which the backend's non-blocking streams do not wait for: finish
  // the uploads before any kernel can read the weights.
  check(cudaDeviceSynchronize(), "upload weights");
  matmul_ = std::make_unique<DeviceMatmul>(*cublas_, stream_, &tally_, wscratch_bytes);
  // Everything but the batch's work buffers and states, allocated now or on first use.
  fixed_bytes_ = tally_.current() + wscratch_bytes + logits_reserve;
}

void CudaBackend::stage(int layer, int s) {
  const size_t si = static_cast<size_t>(s);
  const BlockLayout& L = layouts_[static_cast<size_t>(layer)];
  // The staging buffer's previous copy must be done before it is overwritten,
  // and the slot's previous block must be done computing before the copy lands.
  check(cudaEventSynchronize(slot_ready_[si]), "wait for staging");
  for (const BlockLayout::Item& it : L.items) std::memcpy(staging_[si] + it.offset, it.host, static_cast<size_t>(it.bytes));
  check(cudaStreamWaitEvent(copy_stream_, slot_free_[si], 0), "order slot reuse");
  check(cudaMemcpyAsync(slots_[si].get(), staging_[si], static_cast<size_t>(L.bytes), cudaMemcpyHostToDevice, copy_stream_),
        "stream block weights");
  check(cudaEventRecord(slot_ready_[si], copy_stream_), "cudaEventRecord");
  slot_layer_[si] = layer;
  slot_bound_[si] = L.bind(slots_[si].as<uint8_t>());
}

const DeviceBlock& CudaBackend::block(int layer) {
  computing_slot_ = -1;
  if (resident_[static_cast<size_t>(layer)].get()) return bound_[static_cast<size_t>(layer)];
  int s = slot_layer_[0] == layer ? 0 : slot_layer_[1] == layer ? 1 : -1;
  if (s < 0) {
    // Not prefetched: stage it into the slot that did not compute last.
    s = slot_layer_[0] == -1 ? 0 : slot_layer_[1] == -1 ? 1 : (last_slot_ == 0 ? 1 : 0);
    stage(layer, s);
  }
  check(cudaStreamWaitEvent(stream_, slot_ready_[static_cast<size_t>(s)], 0), "wait for streamed weights");
  matmul_->wait_for(slot_ready_[static_cast<size_t>(s)]);  // the dequantization stream reads them too
  computing_slot_ = s;
  return slot_bound_[static_cast<size_t>(s)];
}

void CudaBackend::release_slot_after_compute(int layer) {
  if (computing_slot_ >= 0) {
    const int s = computing_slot_;
    check(cudaEventRecord(slot_free_[static_cast<size_t>(s)], stream_), "cudaEventRecord");
    last_slot_ = s;
    computing_slot_ = -1;
  }
  // Prefetch the next streamed block, while this one computes, into the slot
  // this one does not use (after a resident block: the slot block() would
  // pick, so the first streamed block after the resident ones is staged
  // ahead too). stage() waits for whatever still reads that slot.
  const int next = layer + 1;
  if (next < config_.n_layer && !resident_[static_cast<size_t>(next)].get() && slot_layer_[0] != next &&
      slot_layer_[1] != next) {
    stage(next, last_slot_ == 0 ? 1 : 0);
  }
}

const float* CudaBackend::rope_table(int layer, int64_t positions, int64_t context) {
  if (config_.rope.n_rot <= 0) return nullptr;
  const RopeSetting setting = rope_setting(config_, weights_, layer, context);
  DeviceRope* r = nullptr;
  for (auto& t : ropes_) {
    if (t->setting == setting) r = t.get();
  }
  if (!r) {
    ropes_.push_back(std::make_unique<DeviceRope>());
    r = ropes_.back().get();
    r->setting = setting;
    r->host = std::make_unique<RopeTable>(config_.rope, setting);
  }
  if (positions > r->positions) {
    // Computed on the host with the CPU's table code, so both rotate alike.
    const int64_t n = std::max(positions, 2 * r->positions);
    r->host->reserve(n);
    DeviceBuffer table(n * config_.rope.n_rot * int64_t(sizeof(float)), &tally_, "RoPE tables");
    check(cudaStreamSynchronize(stream_), "RoPE table upload");  // the old table may still be read
    // On the compute stream, so the kernels queued after it see the table: a
    // plain cudaMemcpy from pageable memory may return before its DMA lands,
    // and it runs on the legacy stream, which this non-blocking stream does not
    // wait for.
    check(cudaMemcpyAsync(table.get(), r->host->data(), static_cast<size_t>(n * config_.rope.n_rot) * sizeof(float),
                          cudaMemcpyHostToDevice, stream_),
          "RoPE table upload");
    r->table = std::move(table);
    r->positions = n;
  }
  return r->table.as<float>();
}

int64_t CudaBackend::bytes_per_token(int64_t) const {
  const int64_t E = config_.n_embd;
  const int64_t ff = config_.max_ff();
  const int64_t qw = config_.max_q_width(), kvw = config_.max_kv_width();
  // What ensure_work allocates per row: xn, o; q_ (sized for a fused QKV
  // output) and k_, v_ beside it; the attention output; gate, up (2ff fused),
  // h. Then the f16 copy of the widest matmul input, a position and a share of
  // an attention tile.
  const int64_t floats = 2 * E + (qw + 2 * kvw) + 2 * kvw + config_.max_attn_out() + 4 * ff;
  const int64_t halfs = std::max<int64_t>(E, std::max<int64_t>(ff, config_.max_attn_out()));
  return floats * 4 + halfs * 2 + 4 + 2 * int64_t(sizeof(AttnTile));
}

int64_t CudaBackend::bytes_per_state_row() const { return int64_t(config_.n_embd) * int64_t(sizeof(float)); }

int64_t CudaBackend::batch_budget(int64_t memory_budget) const {
  // The engine's budget, as far as the device memory the weights and
  // scratch leave allows (plan_and_upload kept room for it).
  const int64_t left = vram_budget_ - fixed_bytes_;
  return std::max<int64_t>(std::min(memory_budget, left), int64_t(16) << 20);
}

bool CudaBackend::device_info(DeviceInfo& out) const {
  out = info_;
  out.peak_bytes = tally_.peak();
  return true;
}

void CudaBackend::ensure_work(int64_t T) {
  if (T <= work_rows_) return;
  // A reserve that fails (out of memory) leaves its buffer empty: until every
  // buffer holds T rows, claim none, so the next call reserves again instead of
  // running kernels on a null buffer; and whatever positions or tiles were
  // uploaded may be gone with a reallocated buffer.
  work_rows_ = 0;
  uploaded_positions_.clear();
  uploaded_tiles_.clear();
  const int64_t E = config_.n_embd;
  const int64_t ff = config_.max_ff();
  const int64_t qw = config_.max_q_width(), kvw = config_.max_kv_width();
  auto f = [&](DeviceBuffer& b, int64_t per_row, const char* what) { b.set_tally(&tally_); b.reserve(T * per_row * 4, what); };
  f(xn_, E, "work buffers");
  f(q_, qw + 2 * kvw, "work buffers");  // also the fused QKV output
  f(k_, kvw, "work buffers");
  f(v_, kvw, "work buffers");
  f(attn_, config_.max_attn_out(), "work buffers");
  f(o_, E, "work buffers");
  f(gate_, ff, "work buffers");
  f(up_, 2 * ff, "work buffers");
  f(h_, ff, "work buffers");
  positions_.set_tally(&tally_);
  positions_.reserve(T * 4, "work buffers");
  tiles_.set_tally(&tally_);
  tiles_.reserve((T / kAttnRows + T + 1) * int64_t(sizeof(AttnTile)), "work buffers");
  work_rows_ = T;
}

void CudaBackend::upload_positions(const std::vector<int32_t>& pos) {
  if (pos == uploaded_positions_) return;
  check(cudaMemcpyAsync(positions_.get(), pos.data(), pos.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_),
        "upload positions");
  check(cudaStreamSynchronize(stream_), "upload positions");
  uploaded_positions_ = pos;
}

void CudaBackend::upload_tiles(const std::vector<AttnTile>& tiles) {
  const bool same = tiles.size() == uploaded_tiles_.size() &&
                    std::memcmp(tiles.data(), uploaded_tiles_.data(), tiles.size() * sizeof(AttnTile)) == 0;
  if (same) return;
  check(cudaMemcpyAsync(tiles_.get(), tiles.data(), tiles.size() * sizeof(AttnTile), cudaMemcpyHostToDevice, stream_),
        "upload attention tiles");
  check(cudaStreamSynchronize(stream_), "upload attention tiles");
  uploaded_tiles_ = tiles;
}

std::unique_ptr<HiddenState> CudaBackend::new_state(int64_t rows) {
  activate();
  auto s = std::make_unique<CudaState>();
  s->x = DeviceBuffer(std::max<int64_t>(1, rows) * config_.n_embd * 4, &tally_, "hidden states");
  s->rows = rows;
  return s;
}

void CudaBackend::copy_state(const HiddenState& from, HiddenState& to, int64_t rows) {
  activate();
  const CudaState& a = cuda_state(from);
  CudaState& b = cuda_state(to);
  const int64_t bytes = rows * config_.n_embd * 4;
  b.x.set_tally(&tally_);
  b.x.reserve(bytes, "hidden states");
  check(cudaMemcpyAsync(b.x.get(), a.x.get(), static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, stream_), "copy_state");
  b.rows = std::max(b.rows, rows);
}

void CudaBackend::embed(const int32_t* tokens, int64_t rows, HiddenState& state) {
  activate();
  CudaState& x = cuda_state(state);
  x.x.set_tally(&tally_);
  x.x.reserve(rows * config_.n_embd * 4, "hidden states");
  tokens_.set_tally(&tally_);
  tokens_.reserve(rows * 4, "token ids");
  check(cudaMemcpyAsync(tokens_.get(), tokens, static_cast<size_t>(rows) * 4, cudaMemcpyHostToDevice, stream_), "upload tokens");
  embed_rows(token_embd_, tokens_.as<int32_t>(), rows, config_.embedding_scale, x.x.as<float>(), stream_);
  check(cudaStreamSynchronize(stream_), "embed");  // the token ids are the caller's
}

void CudaBackend::run_block(int layer, const BatchLayout& batch, HiddenState& state) {
  activate();
  const int64_t T = batch.tokens();
  ensure_work(T);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  std::vector<AttnTile> tiles;
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    const int64_t start = batch.starts[static_cast<size_t>(s)], len = batch.length(s);
    for (int64_t j = 0; j < len; ++j) pos[static_cast<size_t>(start + j)] = static_cast<int32_t>(j);
    for (int64_t r0 = 0; r0 < len; r0 += kAttnRows) {
      tiles.push_back({static_cast<int32_t>(start + r0), static_cast<int32_t>(r0),
                       static_cast<int32_t>(std::min<int64_t>(kAttnRows, len - r0)), static_cast<int32_t>(start)});
    }
  }
  upload_positions(pos);
  upload_tiles(tiles);
  // Sequences of a batch run under a context of their own length (cpu_backend.cc).
  const float* rope = rope_table(layer, batch.max_length(), batch.max_length());
  block_forward(layer, T, cuda_state(state).x.as<float>(), rope, AttendSpec{});
}

std::unique_ptr<KvCache> CudaBackend::new_kv_cache(const std::vector<uint8_t>& skip, int64_t max_cells) {
  activate();
  return std::make_unique<DeviceKvCache>(config_, skip, kv_f16_, max_cells, &tally_, stream_);
}

void CudaBackend::run_block_cached(int layer, int64_t pos0, int64_t n, KvCache& kv_cache, HiddenState& state) {
  activate();
  auto& cache = static_cast<DeviceKvCache&>(kv_cache);
  if (pos0 < 0 || n < 1 || pos0 + n > cache.max_cells()) {
    throw NativeError("ERR_INTERNAL", "cached block rows are outside the KV cache");
  }
  ensure_work(n);
  std::vector<int32_t> pos(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) pos[static_cast<size_t>(r)] = static_cast<int32_t>(pos0 + r);
  std::vector<AttnTile> tiles;
  for (int64_t r0 = 0; r0 < n; r0 += kAttnRows) {
    tiles.push_back({static_cast<int32_t>(r0), static_cast<int32_t>(pos0 + r0),
                     static_cast<int32_t>(std::min<int64_t>(kAttnRows, n - r0)), 0});
  }
  upload_positions(pos);
  upload_tiles(tiles);
  const float* rope = rope_table(layer, pos0 + n, cache.max_cells());
  AttendSpec spec;
  spec.cache = &cache;
  spec.pos0 = pos0;
  block_forward(layer, n, cuda_state(state).x.as<float>(), rope, spec);
}

void CudaBackend::block_forward(int layer, int64_t T, float* x, const float* rope_cs, const AttendSpec& spec) {
  const BlockConfig& bc = config_.blocks[static_cast<size_t>(layer)];
  const DeviceBlock& w = block(layer);
  const int64_t E = config_.n_embd;
  const int hk = config_.head_dim_k, hv = config_.head_dim_v;
  const int64_t qw = int64_t(bc.n_head) * hk, kw = int64_t(bc.n_head_kv) * hk, vw = int64_t(bc.n_head_kv) * hv;
  const int64_t aw = int64_t(bc.n_head) * hv;
  const int64_t ff = bc.n_ff;
  const float eps = config_.norm_eps;
  float* xn = xn_.as<float>();

  rmsnorm_rows(xn, E, x, E, w.attn_norm, T, E, eps, stream_);

  float *qp, *kp, *vp;
  int64_t q_stride, k_stride, v_stride;
  if (w.qkv.present()) {
    const int64_t total = qw + kw + vw;
    linear(w.qkv, xn, T, q_.as<float>());
    if (w.qkv_bias) add_bias_rows(q_.as<float>(), total, w.qkv_bias, T, total, stream_);
    qp = q_.as<float>();
    kp = qp + qw;
    vp = qp + qw + kw;
    q_stride = k_stride = v_stride = total;
  } else {
    qp = q_.as<float>();
    kp = k_.as<float>();
    vp = v_.as<float>();
    linear(w.q, xn, T, qp);
    linear(w.k, xn, T, kp);
    linear(w.v, xn, T, vp);
    if (w.q_bias) add_bias_rows(qp, qw, w.q_bias, T, qw, stream_);
    if (w.k_bias) add_bias_rows(kp, kw, w.k_bias, T, kw, stream_);
    if (w.v_bias) add_bias_rows(vp, vw, w.v_bias, T, vw, stream_);
    q_stride = qw;
    k_stride = kw;
    v_stride = vw;
  }

  // QK-norm, RoPE, Q pre-scale, in place (cpu_backend.cc's order).
  const float pre_scale = config_.query_pre_scale ? config_.attention_scale : 1.0f;
  const bool neox = config_.rope.type == RopeType::Neox;
  const int n_rot = config_.rope.n_rot;
  qk_prepare(qp, q_stride, T, bc.n_head, hk, w.q_norm, eps, rope_cs, n_rot, neox, positions_.as<int32_t>(), pre_scale, stream_);
  qk_prepare(kp, k_stride, T, bc.n_head_kv, hk, w.k_norm, eps, rope_cs, n_rot, neox, positions_.as<int32_t>(), 1.0f, stream_);

  AttnArgs a;
  a.q = qp;
  a.q_stride = q_stride;
  a.out = attn_.as<float>();
  a.out_stride = aw;
  a.n_head = bc.n_head;
  a.n_head_kv = bc.n_head_kv;
  a.head_dim_k = hk;
  a.head_dim_v = hv;
  a.scale = folded_kq_scale(config_.query_pre_scale ? 1.0f : config_.attention_scale, config_.attn_softcap);
  a.softcap = config_.attn_softcap;
  a.window = bc.sliding_window ? config_.sliding_window : 0;
  const int n_tiles = static_cast<int>(uploaded_tiles_.size());
  if (spec.cache) {
    // K and V of these rows into the cache (rounded to f16 there), then the
    // rows attend to every cell so far.
    DeviceKvCache::Block& cb = spec.cache->reserve(layer, spec.pos0 + T);
    store_cache_rows(cb.k.get(), spec.cache->f16(), cb.k_row, spec.pos0, kp, k_stride, T, stream_);
    store_cache_rows(cb.v.get(), spec.cache->f16(), cb.v_row, spec.pos0, vp, v_stride, T, stream_);
    cb.cells = spec.pos0 + T;
    a.k = cb.k.get();
    a.k_stride = cb.k_row;
    a.v = cb.v.get();
    a.v_stride = cb.v_row;
    a.kv_f16 = spec.cache->f16();
  } else {
    a.k = kp;
    a.k_stride = k_stride;
    a.v = vp;
    a.v_stride = v_stride;
    a.round_f16 = kv_f16_;
  }
  attention(a, tiles_.as<AttnTile>(), n_tiles, stream_);

  float* o = o_.as<float>();
  linear(w.output, attn_.as<float>(), T, o);
  if (w.output_bias) add_bias_rows(o, E, w.output_bias, T, E, stream_);
  if (w.post_attn_norm) rmsnorm_rows(o, E, o, E, w.post_attn_norm, T, E, eps, stream_);
  add_rows(x, o, T, E, stream_);
  rmsnorm_rows(xn, E, x, E, w.ffn_norm, T, E, eps, stream_);

  float* h = h_.as<float>();
  if (!w.gate.present()) {
    // phi3: up holds [gate | up]; ggml's swiglu takes the first half as the gate.
    float* gu = up_.as<float>();
    linear(w.up, xn, T, gu);
    if (w.up_bias) add_bias_rows(gu, 2 * ff, w.up_bias, T, 2 * ff, stream_);
    if (config_.ffn_activation == FfnActivation::Gelu) {
      geglu_rows(h, gu, gu + ff, 2 * ff, T, ff, stream_);
    } else {
      swiglu_rows(h, gu, gu + ff, 2 * ff, T, ff, stream_);
    }
  } else {
    float* gp = gate_.as<float>();
    float* up = up_.as<float>();
    linear(w.gate, xn, T, gp);
    linear(w.up, xn, T, up);
    if (w.gate_bias) add_bias_rows(gp, ff, w.gate_bias, T, ff, stream_);
    if (w.up_bias) add_bias_rows(up, ff, w.up_bias, T, ff, stream_);
    if (config_.ffn_activation == FfnActivation::Gelu) {
      geglu_rows(h, gp, up, ff, T, ff, stream_);
    } else {
      swiglu_rows(h, gp, up, ff, T, ff, stream_);
    }
  }
  linear(w.down, h, T, o);
  if (w.down_bias) add_bias_rows(o, E, w.down_bias, T, E, stream_);
  if (w.post_ffn_norm) rmsnorm_rows(o, E, o, E, w.post_ffn_norm, T, E, eps, stream_);
  add_rows(x, o, T, E, stream_);
  release_slot_after_compute(layer);
}

void CudaBackend::compare_rows(const HiddenState& sa, const HiddenState& sb, int64_t rows, RowComparison& out) {
  activate();
  cmp_.set_tally(&tally_);
  cmp_.reserve(rows * 2 * int64_t(sizeof(double)), "row comparisons");
  double* d = cmp_.as<double>();
  cuda::compare_rows(cuda_state(sa).x.as<float>(), cuda_state(sb).x.as<float>(), rows, config_.n_embd, d, d + rows, stream_);
  out.cos.resize(static_cast<size_t>(rows));
  out.rel_change.resize(static_cast<size_t>(rows));
  check(cudaMemcpyAsync(out.cos.data(), d, static_cast<size_t>(rows) * sizeof(double), cudaMemcpyDeviceToHost, stream_), "compare_rows");
  check(cudaMemcpyAsync(out.rel_change.data(), d + rows, static_cast<size_t>(rows) * sizeof(double), cudaMemcpyDeviceToHost, stream_),
        "compare_rows");
  check(cudaStreamSynchronize(stream_), "compare_rows");
}

bool CudaBackend::all_finite(const HiddenState& state, int64_t rows) {
  activate();
  if (rows <= 0) return true;
  finite_flag_.set_tally(&tally_);
  finite_flag_.reserve(int64_t(sizeof(int)), "the finite check");
  check(cudaMemsetAsync(finite_flag_.get(), 0, sizeof(int), stream_), "the finite check");
  flag_non_finite(cuda_state(state).x.as<float>(), rows * config_.n_embd, finite_flag_.as<int>(), stream_);
  int flag = 0;
  check(cudaMemcpyAsync(&flag, finite_flag_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream_), "the finite check");
  check(cudaStreamSynchronize(stream_), "the finite check");
  return flag == 0;
}

void CudaBackend::logits(const HiddenState& state, const int64_t* rows, int64_t n_rows, float* out) {
  activate();
  if (n_rows <= 0) return;
  const int64_t E = config_.n_embd, V = config_.n_vocab;
  rows_.set_tally(&tally_);
  rows_.reserve(n_rows * 8, "logit rows");
  logits_in_.set_tally(&tally_);
  logits_in_.reserve(n_rows * E * 4, "logit rows");
  logits_out_.set_tally(&tally_);
  logits_out_.reserve(n_rows * V * 4, "logits");
  check(cudaMemcpyAsync(rows_.get(), rows, static_cast<size_t>(n_rows) * 8, cudaMemcpyHostToDevice, stream_), "upload rows");
  float* xin = logits_in_.as<float>();
  gather_rows(xin, cuda_state(state).x.as<float>(), rows_.as<int64_t>(), n_rows, E, stream_);
  rmsnorm_rows(xin, E, xin, E, output_norm_, n_rows, E, config_.norm_eps, stream_);
  float* y = logits_out_.as<float>();
  linear(output_, xin, n_rows, y);
  if (output_bias_) add_bias_rows(y, V, output_bias_, n_rows, V, stream_);
  if (config_.final_softcap > 0.0f) softcap_rows(y, n_rows, V, config_.final_softcap, stream_);
  check(cudaMemcpyAsync(out, y, static_cast<size_t>(n_rows * V) * sizeof(float), cudaMemcpyDeviceToHost, stream_), "logits");
  check(cudaStreamSynchronize(stream_), "logits");
}

}  // namespace shortgpt::cuda

namespace shortgpt {

std::unique_ptr<Backend> make_cuda_backend(const ModelConfig& config, const ModelWeights& weights,
                                           const CudaBackendOptions& options) {
  return std::make_unique<cuda::CudaBackend>(config, weights, options);
}

}  // namespace shortgpt
