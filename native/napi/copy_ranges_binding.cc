#include "napi/copy_ranges_binding.h"

#include <cmath>
#include <vector>

#include "engine/range_copy.h"
#include "napi/async_task.h"
#include "napi/cancel_token.h"

namespace shortgpt {

namespace {

class CopyRangesTask : public AsyncTask<uint64_t> {
 public:
  CopyRangesTask(Napi::Env env, std::string src, std::string dst, std::vector<CopyRange> ranges,
                 CancelFlag cancel, const Napi::Value& on_progress, CopyMethod method)
      : AsyncTask<uint64_t>(env, "shortgpt.copyRanges", std::move(cancel), on_progress),
        src_(std::move(src)), dst_(std::move(dst)), ranges_(std::move(ranges)), method_(method) {}

 protected:
  void Run(const Progress& progress) override {
    copy_ranges(src_, dst_, ranges_, [&](uint64_t done) { progress.Send(&done, 1); }, *cancelled(), method_);
  }

  Napi::Value ProgressValue(Napi::Env env, const uint64_t& done) override {
    return Napi::Number::New(env, static_cast<double>(done));
  }

 private:
  std::string src_, dst_;
  std::vector<CopyRange> ranges_;
  CopyMethod method_;
};

}  // namespace

Napi::Value copy_ranges_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (!info[0].IsString()) throw invalid_arg(env, "src must be a string");
    if (!info[1].IsString()) throw invalid_arg(env, "dst must be a string");
    if (!info[2].IsTypedArray() ||
        info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw invalid_arg(env, "ranges must be a Float64Array of (src, dst, length) triples");
    }
    Napi::Float64Array flat = info[2].As<Napi::Float64Array>();
    if (flat.ElementLength() % 3 != 0) throw invalid_arg(env, "ranges length must be a multiple of 3");
    std::vector<CopyRange> ranges;
    ranges.reserve(flat.ElementLength() / 3);
    for (size_t i = 0; i < flat.ElementLength(); i += 3) {
      for (size_t k = 0; k < 3; ++k) {
        double v = flat[i + k];
        if (!(v >= 0) || v != std::floor(v) || v > 9007199254740992.0) {
          throw invalid_arg(env, "ranges must hold non-negative integers below 2^53");
        }
      }
      ranges.push_back({static_cast<uint64_t>(flat[i]), static_cast<uint64_t>(flat[i + 1]),
                        static_cast<uint64_t>(flat[i + 2])});
    }
    // Optional 6th argument: "buffered" forces pread/pwrite (tests cover both paths).
    CopyMethod method = CopyMethod::Kernel;
    if (info.Length() > 5 && !info[5].IsUndefined()) {
      if (!info[5].IsString()) throw invalid_arg(env, "method must be 'kernel' or 'buffered'");
      const std::string m = info[5].As<Napi::String>().Utf8Value();
      if (m == "buffered") method = CopyMethod::Buffered;
      else if (m != "kernel") throw invalid_arg(env, "method must be 'kernel' or 'buffered'");
    }
    CancelFlag cancel = cancel_flag_from(env, info[3]);
    auto* task = new CopyRangesTask(env, info[0].As<Napi::String>().Utf8Value(),
                                    info[1].As<Napi::String>().Utf8Value(), std::move(ranges),
                                    std::move(cancel), info[4], method);
    Napi::Promise promise = task->promise();
    task->Queue();
    return promise;
  });
}

}  // namespace shortgpt
