// A promise-returning background task with progress, the pattern every long
// native call uses: Execute() runs on the libuv pool, progress values are
// delivered on the JS thread to an optional onProgress callback, errors keep
// their code, and the promise settles exactly once.
//
// Two rules keep the process alive whatever JavaScript does around a task:
//
// - A callback that throws (onProgress, onToken) is the caller's error, not
//   an uncaught one: the task is cancelled and the promise rejects with that
//   error (N-API would otherwise report it as DEP0168 and resolve anyway).
// - Nothing here ever lets a C++ exception reach N-API. When a worker_thread
//   is terminated (or an Electron window closes) mid-task, Node tears the
//   environment down: it waits for pool work to finish and meanwhile still
//   dispatches progress, but JavaScript can no longer run, so every napi call
//   fails and node-addon-api turns that into a Napi::Error; thrown out of a
//   thread-safe-function callback it aborted the whole process ("terminate
//   called after throwing Napi::Error"). The task notices (a call into JS
//   fails with no exception pending, or the env cleanup hook fires), cancels
//   its work so teardown is not kept waiting, and never touches JS again.
#pragma once

#include <napi.h>

#include <string>

#include "common/error.h"
#include "napi/cancel_token.h"
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
  // token: tasks take a ready CancelFlag).
  AsyncTask(Napi::Env env, const char* name, CancelFlag cancel, const Napi::Value& on_progress)
      : Napi::AsyncProgressWorker<ProgressT>(noop_after_checking(env, on_progress), name),
        deferred_(Napi::Promise::Deferred::New(env)),
        cancel_(std::move(cancel)) {
    if (on_progress.IsFunction()) on_progress_ = Napi::Persistent(on_progress.As<Napi::Function>());
    // Raw call: a failure only costs the early cancel at teardown, and must not throw here.
    if (napi_add_env_cleanup_hook(env, &AsyncTask::OnEnvCleanup, this) == napi_ok) cleanup_hook_added_ = true;
  }

  ~AsyncTask() override {
    if (cleanup_hook_added_) napi_remove_env_cleanup_hook(this->Env(), &AsyncTask::OnEnvCleanup, this);
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  // The base class's completion callback, made only once on_progress is known
  // to be valid. It does nothing; calling it tells whether JS can still run.
  static Napi::Function noop_after_checking(Napi::Env env, const Napi::Value& on_progress) {
    if (!on_progress.IsFunction() && !on_progress.IsUndefined() && !on_progress.IsNull()) {
      throw invalid_arg(env, "onProgress must be a function");
    }
    return Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  }

 protected:
  // The work itself; throw NativeError to fail with its code. Poll cancelled() between steps.
  virtual void Run(const Progress& progress) = 0;
  // The resolved value, built on the JS thread after Run succeeded.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  // Converts a progress value for JS.
  virtual Napi::Value ProgressValue(Napi::Env env, const ProgressT& value) = 0;

  const std::atomic<bool>* cancelled() const { return cancel_.get(); }

 private:
  void Execute(const Progress& progress) final {
    try {
      Run(progress);
    } catch (const NativeError& e) {
      Fail(e.code(), e.what());
    } catch (const std::bad_alloc&) {
      Fail("ERR_OUT_OF_MEMORY", "native allocation failed (out of memory)");
    } catch (const std::exception& e) {
      Fail("ERR_NATIVE", std::string("native error: ") + e.what());
    }
  }

  void Fail(std::string code, std::string message) {
    code_ = std::move(code);
    message_ = std::move(message);
    this->SetError(message_);  // routes completion to OnError
  }

  void OnProgress(const ProgressT* data, size_t count) final {
    // After an abort (or a callback's error) no progress reaches JS any more.
    if (env_gone_ || count == 0 || cancel_->load()) return;
    napi_env env = this->Env();
    try {
      Napi::HandleScope scope(env);
      Napi::Function callback = on_progress_.IsEmpty() ? this->Callback().Value() : on_progress_.Value();
      // Only the newest value matters to a progress display.
      napi_value arg = on_progress_.IsEmpty() ? nullptr : static_cast<napi_value>(ProgressValue(env, data[count - 1]));
      CallIntoJs(env, callback, arg);
    } catch (...) {
      // Building the value failed (the env is going away, or memory ran out):
      // stop; Settle reports it if anyone is left to tell.
      progress_failed_ = true;
      cancel_->store(true);
    }
  }

  // Calls fn(arg) (or fn() without an arg). A JS exception becomes the call's
  // result; a failure with nothing pending means JS can no longer run.
  void CallIntoJs(napi_env env, const Napi::Function& fn, napi_value arg) {
    napi_value undefined = nullptr;
    napi_value result = nullptr;
    napi_get_undefined(env, &undefined);
    napi_status status = napi_call_function(env, undefined, fn, arg ? 1 : 0, arg ? &arg : nullptr, &result);
    if (status == napi_ok) return;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value error = nullptr;
      napi_get_and_clear_last_exception(env, &error);
      if (callback_error_.IsEmpty() && error != nullptr) callback_error_ = Napi::Persistent(Napi::Value(env, error));
      cancel_->store(true);
      return;
    }
    StopForTeardown();
  }

  void StopForTeardown() {
    env_gone_ = true;
    cancel_->store(true);
  }

  static void OnEnvCleanup(void* self) {
    auto* task = static_cast<AsyncTask*>(self);
    task->cleanup_hook_added_ = false;  // Node removes a hook once it has run
    task->StopForTeardown();
  }

  void OnOK() final { Settle(true); }

  void OnError(const Napi::Error&) final { Settle(false); }

  void Settle(bool ok) {
    if (env_gone_) return;
    Napi::Env env = this->Env();
    try {
      Napi::HandleScope scope(env);
      if (!callback_error_.IsEmpty()) {
        deferred_.Reject(callback_error_.Value());
      } else if (progress_failed_) {
        deferred_.Reject(make_js_error(env, "ERR_NATIVE", "a progress value could not be delivered to JavaScript").Value());
      } else if (ok && cancel_->load()) {
        // Aborted after the work's last check but before JS heard of its
        // result: the caller asked to stop, so the call is an abort.
        Napi::Error error = make_js_error(env, "ABORT_ERR", "The operation was aborted");
        error.Set("name", Napi::String::New(env, "AbortError"));
        deferred_.Reject(error.Value());
      } else if (ok) {
        Napi::Value value;
        try {
          value = Result(env);
        } catch (const Napi::Error& e) {
          deferred_.Reject(e.Value());
          return;
        } catch (const std::bad_alloc&) {
          deferred_.Reject(make_js_error(env, "ERR_OUT_OF_MEMORY", "native allocation failed (out of memory)").Value());
          return;
        }
        deferred_.Resolve(value);
      } else {
        Napi::Error error = make_js_error(env, code_.empty() ? "ERR_NATIVE" : code_, message_);
        if (code_ == "ABORT_ERR") error.Set("name", Napi::String::New(env, "AbortError"));
        deferred_.Reject(error.Value());
      }
    } catch (...) {
      // Only while the env goes away (every napi call fails): there is no one left to tell.
      env_gone_ = true;
    }
  }

  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_progress_;
  Napi::Reference<Napi::Value> callback_error_;
  CancelFlag cancel_;
  std::string code_;
  std::string message_;
  bool env_gone_ = false;         // JS thread only
  bool progress_failed_ = false;  // JS thread only
  bool cleanup_hook_added_ = false;
};

}  // namespace shortgpt
