#include "napi/js_error.h"

#include <cmath>

namespace shortgpt {

int64_t to_i64(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw invalid_arg(env, std::string(what) + " does not fit in int64");
    return x;
  }
  if (!v.IsNumber()) throw invalid_arg(env, std::string(what) + " must be a number or bigint");
  double d = v.As<Napi::Number>().DoubleValue();
  // 2^53: beyond it a double no longer holds every integer exactly.
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9007199254740992.0) {
    throw invalid_arg(env, std::string(what) + " must be an integer");
  }
  return static_cast<int64_t>(d);
}

uint64_t to_u64(Napi::Env env, const Napi::Value& v, const char* what) {
  int64_t x = to_i64(env, v, what);
  if (x < 0) throw invalid_arg(env, std::string(what) + " must not be negative");
  return static_cast<uint64_t>(x);
}

}  // namespace shortgpt
