#include "napi/engine_binding.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "cpu/cpu_topology.h"
#include "engine/engine.h"
#include "napi/async_task.h"
#include "napi/cancel_token.h"
#include "napi/js_error.h"
#include "napi/model_config_arg.h"
#include "napi/tensor_table_arg.h"

namespace shortgpt {

namespace {

// Inputs are copied off the JS heap before the work is queued, so JS may
// reuse its arrays at once and the worker never touches V8 memory.
template <class T, napi_typedarray_type kType>
std::vector<T> typed_array_copy(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
    throw invalid_arg(env, std::string(what) + " has the wrong array type");
  }
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<int32_t> int32s(Napi::Env env, const Napi::Value& v, const char* what) {
  return typed_array_copy<int32_t, napi_int32_array>(env, v, what);
}

std::vector<uint8_t> uint8s(Napi::Env env, const Napi::Value& v, const char* what) {
  return typed_array_copy<uint8_t, napi_uint8_array>(env, v, what);
}

Napi::Float64Array float64_array(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
  if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(double));
  return a;
}

// The shared parts of the three engine tasks: the engine kept alive while
// the task runs (close() may be called meanwhile), cancellation and progress.
class EngineTask : public AsyncTask<double> {
 public:
  EngineTask(Napi::Env env, const char* name, std::shared_ptr<Engine> engine, CancelFlag cancel,
             const Napi::Value& on_progress)
      : AsyncTask<double>(env, name, std::move(cancel), on_progress), engine_(std::move(engine)) {}

 protected:
  EngineControl control(const Progress& progress) const {
    EngineControl c;
    c.cancel = cancelled();
    c.progress = [&progress](double done) { progress.Send(&done, 1); };
    return c;
  }

  Napi::Value ProgressValue(Napi::Env env, const double& value) override { return Napi::Number::New(env, value); }

  std::shared_ptr<Engine> engine_;
};

class LogitsTask final : public EngineTask {
 public:
  LogitsTask(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<int32_t> tokens, std::vector<int64_t> rows,
             std::vector<uint8_t> skip, CancelFlag cancel, const Napi::Value& on_progress)
      : EngineTask(env, "shortgpt.logits", std::move(engine), std::move(cancel), on_progress),
        tokens_(std::move(tokens)), rows_(std::move(rows)), skip_(std::move(skip)) {}

 protected:
  void Run(const Progress& progress) override { out_ = engine_->logits(tokens_, rows_, skip_, control(progress)); }

  Napi::Value Result(Napi::Env env) override {
    Napi::Float32Array a = Napi::Float32Array::New(env, out_.size());
    if (!out_.empty()) std::memcpy(a.Data(), out_.data(), out_.size() * sizeof(float));
    return a;
  }

 private:
  std::vector<int32_t> tokens_;
  std::vector<int64_t> rows_;
  std::vector<uint8_t> skip_;
  std::vector<float> out_;
};

class PerplexityTask final : public EngineTask {
 public:
  PerplexityTask(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<int32_t> tokens, int64_t ctx, int64_t first,
                 std::vector<uint8_t> skip, CancelFlag cancel, const Napi::Value& on_progress)
      : EngineTask(env, "shortgpt.perplexity", std::move(engine), std::move(cancel), on_progress),
        tokens_(std::move(tokens)), ctx_(ctx), first_(first), skip_(std::move(skip)) {}

 protected:
  void Run(const Progress& progress) override {
    chunks_ = engine_->perplexity(tokens_, ctx_, first_, skip_, control(progress));
  }

  // [nll_0, count_0, nll_1, count_1, ...]
  Napi::Value Result(Napi::Env env) override {
    std::vector<double> flat;
    flat.reserve(chunks_.size() * 2);
    for (const ChunkNll& c : chunks_) {
      flat.push_back(c.nll);
      flat.push_back(static_cast<double>(c.count));
    }
    return float64_array(env, flat);
  }

 private:
  std::vector<int32_t> tokens_;
  int64_t ctx_, first_;
  std::vector<uint8_t> skip_;
  std::vector<ChunkNll> chunks_;
};

class HiddenStatsTask final : public EngineTask {
 public:
  HiddenStatsTask(Napi::Env env, std::shared_ptr<Engine> engine, std::vector<int32_t> tokens,
                  std::vector<int64_t> lengths, std::vector<int> spans, std::vector<uint8_t> skip,
                  CancelFlag cancel, const Napi::Value& on_progress)
      : EngineTask(env, "shortgpt.hiddenStats", std::move(engine), std::move(cancel), on_progress),
        tokens_(std::move(tokens)), lengths_(std::move(lengths)), spans_(std::move(spans)), skip_(std::move(skip)) {}

 protected:
  void Run(const Progress& progress) override {
    sums_ = engine_->hidden_stats(tokens_, lengths_, spans_, skip_, control(progress));
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("rows", Napi::Number::New(env, sums_.rows));
    o.Set("windows", Napi::Number::New(env, sums_.windows));
    Napi::Array spans = Napi::Array::New(env, sums_.spans.size());
    for (size_t i = 0; i < sums_.spans.size(); ++i) spans.Set(static_cast<uint32_t>(i), Napi::Number::New(env, sums_.spans[i]));
    o.Set("spans", spans);
    o.Set("cosSum", float64_array(env, sums_.cos_sum));
    o.Set("relSum", float64_array(env, sums_.rel_sum));
    o.Set("spanCosSum", float64_array(env, sums_.span_cos));
    o.Set("spanAngleSum", float64_array(env, sums_.span_angle));
    o.Set("lastCosSum", float64_array(env, sums_.last_cos));
    o.Set("lastAngleSum", float64_array(env, sums_.last_angle));
    return o;
  }

 private:
  std::vector<int32_t> tokens_;
  std::vector<int64_t> lengths_;
  std::vector<int> spans_;
  std::vector<uint8_t> skip_;
  HiddenStatsSums sums_;
};

// Greedy generation. Tokens reach JavaScript while the worker runs: the
// worker appends each one to `streamed_` and sends the count; on the JS
// thread the progress callback receives the tokens not delivered yet (an
// Int32Array), so none is lost when progress values coalesce.
class GenerateTask final : public AsyncTask<int64_t> {
 public:
  GenerateTask(Napi::Env env, std::shared_ptr<Engine> engine, GenerateRequest request, int64_t context_limit,
               CancelFlag cancel, const Napi::Value& on_tokens)
      : AsyncTask<int64_t>(env, "shortgpt.generate", std::move(cancel), on_tokens),
        engine_(std::move(engine)), request_(std::move(request)), context_limit_(context_limit) {}

 protected:
  void Run(const Progress& progress) override {
    GenerateControl control;
    control.cancel = cancelled();
    control.on_token = [&](int32_t token, int64_t count) {
      {
        std::lock_guard<std::mutex> lock(stream_mutex_);
        streamed_.push_back(token);
      }
      progress.Send(&count, 1);
    };
    result_ = engine_->generate(request_, context_limit_, control);
  }

  Napi::Value ProgressValue(Napi::Env env, const int64_t& count) override {
    std::lock_guard<std::mutex> lock(stream_mutex_);
    const size_t end = std::min(static_cast<size_t>(count), streamed_.size());
    const size_t begin = std::min(delivered_, end);
    Napi::Int32Array a = Napi::Int32Array::New(env, end - begin);
    if (end > begin) std::memcpy(a.Data(), streamed_.data() + begin, (end - begin) * sizeof(int32_t));
    delivered_ = std::max(delivered_, end);
    return a;
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    Napi::Int32Array tokens = Napi::Int32Array::New(env, result_.tokens.size());
    if (!result_.tokens.empty()) std::memcpy(tokens.Data(), result_.tokens.data(), result_.tokens.size() * sizeof(int32_t));
    o.Set("tokens", tokens);
    o.Set("stopped", Napi::Boolean::New(env, result_.stopped));
    o.Set("prefillSeconds", Napi::Number::New(env, result_.prefill_seconds));
    o.Set("decodeSeconds", Napi::Number::New(env, result_.decode_seconds));
    o.Set("decodeSteps", Napi::Number::New(env, static_cast<double>(result_.decode_steps)));
    o.Set("kvCacheBytes", Napi::Number::New(env, static_cast<double>(result_.kv_cache_bytes)));
    if (request_.keep_logits) {
      Napi::Float32Array logits = Napi::Float32Array::New(env, result_.logits.size());
      if (!result_.logits.empty()) std::memcpy(logits.Data(), result_.logits.data(), result_.logits.size() * sizeof(float));
      o.Set("logits", logits);
    }
    return o;
  }

 private:
  std::shared_ptr<Engine> engine_;
  GenerateRequest request_;
  int64_t context_limit_;
  GenerateResult result_;
  std::mutex stream_mutex_;
  std::vector<int32_t> streamed_;
  size_t delivered_ = 0;  // JS thread only
};

// options.device ("cpu" default | "cuda"), deviceIndex (default 0),
// vramBudget (bytes; default 0 = the device's free memory less a margin),
// cublasPath (a libcublas file or folder), maxResidentBlocks (-1 default: all
// that fit; the rest stream). "auto" is resolved in TypeScript.
void read_device_options(Napi::Env env, const Napi::Object& o, EngineOptions& options) {
  const Napi::Value device = o.Get("device");
  if (!device.IsUndefined()) {
    const std::string d = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (d == "cpu") options.device = Device::Cpu;
    else if (d == "cuda") options.device = Device::Cuda;
    else throw invalid_arg(env, "options.device must be 'cpu' or 'cuda'");
  }
  const Napi::Value index = o.Get("deviceIndex");
  if (!index.IsUndefined()) {
    const int64_t i = to_i64(env, index, "options.deviceIndex");
    if (i < 0 || i > 1023) throw invalid_arg(env, "options.deviceIndex must be 0..1023");
    options.device_index = static_cast<int>(i);
  }
  const Napi::Value vram = o.Get("vramBudget");
  if (!vram.IsUndefined()) {
    const int64_t b = to_i64(env, vram, "options.vramBudget");
    if (b < 0) throw invalid_arg(env, "options.vramBudget must be a byte count >= 0 (0: free device memory)");
    options.vram_budget = b;
  }
  const Napi::Value resident = o.Get("maxResidentBlocks");
  if (!resident.IsUndefined()) {
    const int64_t r = to_i64(env, resident, "options.maxResidentBlocks");
    if (r < -1 || r > 100000) throw invalid_arg(env, "options.maxResidentBlocks must be -1 (all that fit) or a block count");
    options.max_resident_blocks = static_cast<int>(r);
  }
  const Napi::Value cublas = o.Get("cublasPath");
  if (!cublas.IsUndefined()) {
    if (!cublas.IsString()) throw invalid_arg(env, "options.cublasPath must be a string");
    options.cublas_path = cublas.As<Napi::String>().Utf8Value();
  }
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    guarded(env, [&] {
      if (!info[0].IsString()) throw invalid_arg(env, "path must be a string");
      std::vector<TensorInfo> tensors = tensor_infos_from_js(env, info[1]);
      ModelConfig config = model_config_from_js(env, info[2]);
      EngineOptions options;
      if (!info[3].IsObject()) throw invalid_arg(env, "options must be an object");
      Napi::Object o = info[3].As<Napi::Object>();
      const int64_t threads = to_i64(env, o.Get("threads"), "options.threads");
      if (threads < 0 || threads > 1024) throw invalid_arg(env, "options.threads must be 0..1024 (0: one per physical core)");
      options.threads = threads == 0 ? cpu::physical_cores() : static_cast<int>(threads);
      options.memory_budget = to_i64(env, o.Get("memoryBudget"), "options.memoryBudget");
      Napi::Value kv = o.Get("kv");
      if (!kv.IsString()) throw invalid_arg(env, "options.kv must be 'f16' or 'f32'");
      const std::string kvs = kv.As<Napi::String>().Utf8Value();
      if (kvs == "f16") options.kv = KvPrecision::F16;
      else if (kvs == "f32") options.kv = KvPrecision::F32;
      else throw invalid_arg(env, "options.kv must be 'f16' or 'f32'");
      read_device_options(env, o, options);
      engine_ = std::make_shared<Engine>(info[0].As<Napi::String>().Utf8Value(), std::move(tensors), std::move(config),
                                         options);
    });
  }

  // logits(tokens: Int32Array, rows: Int32Array, skip: Uint8Array, cancel?, onProgress?)
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto engine = open_engine(env);
      std::vector<int32_t> tokens = int32s(env, info[0], "tokens");
      std::vector<int32_t> rows32 = int32s(env, info[1], "rows");
      std::vector<int64_t> rows(rows32.begin(), rows32.end());
      std::vector<uint8_t> skip = uint8s(env, info[2], "skip");
      auto* task = new LogitsTask(env, engine, std::move(tokens), std::move(rows), std::move(skip), cancel_flag_from(env, info[3]), info[4]);
      task->Queue();
      return task->promise();
    });
  }

  // perplexity(tokens: Int32Array, ctx, first, skip: Uint8Array, cancel?, onProgress?)
  Napi::Value Perplexity(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto engine = open_engine(env);
      std::vector<int32_t> tokens = int32s(env, info[0], "tokens");
      const int64_t ctx = to_i64(env, info[1], "ctx");
      const int64_t first = to_i64(env, info[2], "first");
      std::vector<uint8_t> skip = uint8s(env, info[3], "skip");
      auto* task = new PerplexityTask(env, engine, std::move(tokens), ctx, first, std::move(skip), cancel_flag_from(env, info[4]), info[5]);
      task->Queue();
      return task->promise();
    });
  }

  // hiddenStats(tokens: Int32Array, lengths: Int32Array, spans: Int32Array, skip: Uint8Array, cancel?, onProgress?)
  Napi::Value HiddenStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto engine = open_engine(env);
      std::vector<int32_t> tokens = int32s(env, info[0], "tokens");
      std::vector<int32_t> lengths32 = int32s(env, info[1], "lengths");
      std::vector<int64_t> lengths(lengths32.begin(), lengths32.end());
      std::vector<int32_t> spans32 = int32s(env, info[2], "spans");
      std::vector<int> spans(spans32.begin(), spans32.end());
      std::vector<uint8_t> skip = uint8s(env, info[3], "skip");
      auto* task = new HiddenStatsTask(env, engine, std::move(tokens), std::move(lengths), std::move(spans),
                                       std::move(skip), cancel_flag_from(env, info[4]), info[5]);
      task->Queue();
      return task->promise();
    });
  }

  // generate(prompt: Int32Array, maxTokens, stop: Int32Array, skip: Uint8Array, contextLimit,
  //          keepLogits: boolean, cancel?, onTokens?: (tokens: Int32Array) => void)
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto engine = open_engine(env);
      GenerateRequest request;
      request.prompt = int32s(env, info[0], "prompt");
      request.max_tokens = to_i64(env, info[1], "maxTokens");
      request.stop = int32s(env, info[2], "stop");
      request.skip = uint8s(env, info[3], "skip");
      const int64_t context_limit = to_i64(env, info[4], "contextLimit");
      if (!info[5].IsBoolean()) throw invalid_arg(env, "keepLogits must be a boolean");
      request.keep_logits = info[5].As<Napi::Boolean>().Value();
      auto* task = new GenerateTask(env, engine, std::move(request), context_limit, cancel_flag_from(env, info[6]), info[7]);
      task->Queue();
      return task->promise();
    });
  }

  // { backend: "cpu" | "cuda", threads, simd, memoryBudget } and, on a device,
  // device: { index, name, totalMemory, computeCapability, driverVersion,
  // runtimeVersion, cublasVersion, cublasPath, residentBlocks, streamedBlocks }
  // and peakDeviceBytes.
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto engine = open_engine(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("backend", Napi::String::New(env, engine->backend_name()));
    o.Set("threads", Napi::Number::New(env, engine->threads()));
    o.Set("simd", Napi::String::New(env, simd_level_name(engine->simd())));
    o.Set("memoryBudget", Napi::Number::New(env, static_cast<double>(engine->memory_budget())));
    DeviceInfo d;
    if (engine->device_info(d)) {
      Napi::Object dev = Napi::Object::New(env);
      dev.Set("index", d.index);
      dev.Set("name", d.name);
      dev.Set("totalMemory", static_cast<double>(d.total_memory));
      dev.Set("computeCapability", std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor));
      dev.Set("driverVersion", d.driver_version);
      dev.Set("runtimeVersion", d.runtime_version);
      dev.Set("cublasVersion", d.cublas_version);
      dev.Set("cublasPath", d.cublas_path);
      dev.Set("residentBlocks", d.resident_blocks);
      dev.Set("streamedBlocks", d.streamed_blocks);
      o.Set("device", dev);
      o.Set("peakDeviceBytes", Napi::Number::New(env, static_cast<double>(d.peak_bytes)));
    }
    return o;
  }

  // sequencesPerBatch(seqLen, maxSpan): how many sequences one batch holds under the budget.
  Napi::Value SequencesPerBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guarded(env, [&]() -> Napi::Value {
      auto engine = open_engine(env);
      const int64_t len = to_i64(env, info[0], "seqLen");
      const int64_t span = to_i64(env, info[1], "maxSpan");
      if (len < 1 || len > (int64_t(1) << 30)) throw invalid_arg(env, "seqLen must be 1..2^30");
      if (span < 0 || span > engine->config().n_layer) throw invalid_arg(env, "maxSpan must be 0..blocks");
      return Napi::Number::New(env, static_cast<double>(engine->sequences_per_batch(len, static_cast<int>(span))));
    });
  }

  // Seconds spent per step since open (or the last resetProfile).
  Napi::Value Profile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const CpuBackend::Profile p = open_engine(env)->profile();
    Napi::Object o = Napi::Object::New(env);
    o.Set("embed", p.embed);
    o.Set("norm", p.norm);
    o.Set("qkv", p.qkv);
    o.Set("rope", p.rope);
    o.Set("attention", p.attention);
    o.Set("outProj", p.out_proj);
    o.Set("residual", p.residual);
    o.Set("ffnUp", p.ffn_up);
    o.Set("ffnAct", p.ffn_act);
    o.Set("ffnDown", p.ffn_down);
    o.Set("logits", p.logits);
    return o;
  }

  Napi::Value ResetProfile(const Napi::CallbackInfo& info) {
    open_engine(info.Env())->reset_profile();
    return info.Env().Undefined();
  }

  // Drops this handle's reference now instead of at garbage collection; a
  // task still running keeps the engine until it settles.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    engine_.reset();
    return info.Env().Undefined();
  }

 private:
  std::shared_ptr<Engine> open_engine(Napi::Env env) const {
    if (!engine_) throw make_js_error(env, "ERR_MODEL_CLOSED", "the model has been closed");
    return engine_;
  }

  std::shared_ptr<Engine> engine_;
};

}  // namespace

Napi::Function define_engine_class(Napi::Env env) {
  return EngineWrap::DefineClass(env, "Engine",
                                 {
                                     EngineWrap::InstanceMethod<&EngineWrap::Logits>("logits"),
                                     EngineWrap::InstanceMethod<&EngineWrap::Perplexity>("perplexity"),
                                     EngineWrap::InstanceMethod<&EngineWrap::HiddenStats>("hiddenStats"),
                                     EngineWrap::InstanceMethod<&EngineWrap::Generate>("generate"),
                                     EngineWrap::InstanceAccessor<&EngineWrap::Info>("info"),
                                     EngineWrap::InstanceMethod<&EngineWrap::SequencesPerBatch>("sequencesPerBatch"),
                                     EngineWrap::InstanceMethod<&EngineWrap::Profile>("profile"),
                                     EngineWrap::InstanceMethod<&EngineWrap::ResetProfile>("resetProfile"),
                                     EngineWrap::InstanceMethod<&EngineWrap::Close>("close"),
                                 });
}

}  // namespace shortgpt
