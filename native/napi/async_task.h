// A promise-returning background task with progress, the pattern every long
// native call uses: Execute() runs on the libuv pool, progress values are
// delivered on the JS thread to an optional onProgress callback, errors keep
// their code, and the promise settles exactly once.
#pragma once

#include <napi.h>

#include <string>

#include "common/error.h"
#include "napi/js_error.h"

namespace shortgpt {

template <class ProgressT>
class AsyncTask : public Napi::AsyncProgressWorker<ProgressT> {
 public:
  using Progress = typename Napi::AsyncProgressWorker<ProgressT>::ExecutionProgress;

  // Nothing may throw once the base class exists: it creates a thread-safe
  // function whose finalizer runs later on the event loop with `this`, so a
  // constructor that throws afterwards leaves it pointing at freed memory (a
  // crash at process exit). Arguments are therefore checked in the base's
  // initializer (on_progress here) or by the caller before `new` (the cancel
  // token: subclasses take a ready CancelFlag).
  AsyncTask(Napi::Env env, const char* name, const Napi::Value& on_progress)
      : Napi::AsyncProgressWorker<ProgressT>(noop_after_checking(env, on_progress), name),
        deferred_(Napi::Promise::Deferred::New(env)) {
    if (on_progress.IsFunction()) on_progress_ = Napi::Persistent(on_progress.As<Napi::Function>());
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  // The base class's (unused) completion callback, made only once on_progress is known to be valid.
  static Napi::Function noop_after_checking(Napi::Env env, const Napi::Value& on_progress) {
    if (!on_progress.IsFunction() && !on_progress.IsUndefined() && !on_progress.IsNull()) {
      throw invalid_arg(env, "onProgress must be a function");
    }
    return Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  }

 protected:
  // The work itself; throw NativeError to fail with its code.
  virtual void Run(const Progress& progress) = 0;
  // The resolved value, built on the JS thread after Run succeeded.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  // Converts a progress value for JS.
  virtual Napi::Value ProgressValue(Napi::Env env, const ProgressT& value) = 0;

 private:
  void Execute(const Progress& progress) final {
    try {
      Run(progress);
    } catch (const NativeError& e) {
      code_ = e.code();
      this->SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "ERR_OUT_OF_MEMORY";
      this->SetError("native allocation failed (out of memory)");
    } catch (const std::exception& e) {
      code_ = "ERR_NATIVE";
      this->SetError(std::string("native error: ") + e.what());
    }
  }

  void OnProgress(const ProgressT* data, size_t count) final {
    if (on_progress_.IsEmpty() || count == 0) return;
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    // Only the newest value matters to a progress display.
    on_progress_.Call({ProgressValue(env, data[count - 1])});
  }

  void OnOK() final {
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    try {
      deferred_.Resolve(Result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) final {
    Napi::Env env = this->Env();
    Napi::HandleScope scope(env);
    Napi::Error error = make_js_error(env, code_.empty() ? "ERR_NATIVE" : code_, e.Message());
    if (code_ == "ABORT_ERR") error.Set("name", Napi::String::New(env, "AbortError"));
    deferred_.Reject(error.Value());
  }

  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_progress_;
  std::string code_;
};

}  // namespace shortgpt
