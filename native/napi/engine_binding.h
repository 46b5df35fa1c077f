#pragma once

#include <napi.h>

namespace shortgpt {

// JS class Engine(path, tensors, config, { threads, kv, memoryBudget }): an open
// model on the CPU backend. Its methods (logits, perplexity, hiddenStats)
// return promises, run on the libuv pool, take a CancelToken and an
// onProgress callback, and copy results into JS-owned typed arrays.
Napi::Function define_engine_class(Napi::Env env);

}  // namespace shortgpt
