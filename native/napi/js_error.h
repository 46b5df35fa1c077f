// Converting native failures into JS errors with a stable `code`. Every entry
// point runs its body through guarded(): a C++ exception must never escape into
// N-API (in Electron a crash kills the whole app).
#pragma once

#include <napi.h>

#include <new>
#include <string>

#include "common/error.h"

namespace shortgpt {

inline Napi::Error make_js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

inline Napi::Error make_js_error(Napi::Env env, const NativeError& e) {
  return make_js_error(env, e.code(), e.what());
}

template <class Body>
auto guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const NativeError& e) {
    throw make_js_error(env, e);
  } catch (const std::bad_alloc&) {
    throw make_js_error(env, "ERR_OUT_OF_MEMORY", "native allocation failed (out of memory)");
  } catch (const std::exception& e) {
    throw make_js_error(env, "ERR_NATIVE", std::string("native error: ") + e.what());
  }
}

// Argument helpers: they throw ERR_INVALID_ARG naming the argument.
inline Napi::Error invalid_arg(Napi::Env env, const std::string& what) {
  Napi::Error error = Napi::TypeError::New(env, what);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG"));
  return error;
}

// A JS number or bigint that must be a non-negative integer below 2^63.
uint64_t to_u64(Napi::Env env, const Napi::Value& v, const char* what);
int64_t to_i64(Napi::Env env, const Napi::Value& v, const char* what);

}  // namespace shortgpt
