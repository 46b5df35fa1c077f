// Errors that cross the N-API boundary carry a stable code (ERR_GGUF_*,
// ERR_UNSUPPORTED_*, ...) so TypeScript callers can branch on it; the addon
// turns every NativeError into a JS Error with `.code` instead of crashing.
#pragma once

#include <stdexcept>
#include <string>

namespace shortgpt {

class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

}  // namespace shortgpt
