// CancelToken: the native half of an AbortSignal. TypeScript calls cancel()
// when the signal aborts; workers poll the shared flag between chunks, blocks
// and windows, and fail with ABORT_ERR.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

namespace shortgpt {

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

Napi::Function define_cancel_token_class(Napi::Env env);

// The flag of a CancelToken argument; a fresh, never-set flag when the
// argument is undefined or null. Anything else is an ERR_INVALID_ARG.
CancelFlag cancel_flag_from(Napi::Env env, const Napi::Value& value);

}  // namespace shortgpt
