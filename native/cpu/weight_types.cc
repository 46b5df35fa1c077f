#include "cpu/weight_types.h"

#include "common/error.h"
#include "common/ggml_type.h"

namespace shortgpt::cpu {

namespace {

// Ascending ids.
constexpr int32_t kSupported[] = {
    static_cast<int32_t>(GgmlType::F32),    static_cast<int32_t>(GgmlType::F16),
    static_cast<int32_t>(GgmlType::Q4_0),   static_cast<int32_t>(GgmlType::Q4_1),
    static_cast<int32_t>(GgmlType::Q5_0),   static_cast<int32_t>(GgmlType::Q5_1),
    static_cast<int32_t>(GgmlType::Q8_0),   static_cast<int32_t>(GgmlType::Q2_K),
    static_cast<int32_t>(GgmlType::Q3_K),   static_cast<int32_t>(GgmlType::Q4_K),
    static_cast<int32_t>(GgmlType::Q5_K),   static_cast<int32_t>(GgmlType::Q6_K),
    static_cast<int32_t>(GgmlType::IQ4_NL), static_cast<int32_t>(GgmlType::IQ4_XS),
    static_cast<int32_t>(GgmlType::BF16),
};

std::string type_label(int32_t type) {
  const GgmlTypeTraits* t = ggml_type_traits(type);
  return t ? std::string(t->name) + " (" + std::to_string(type) + ")" : "id " + std::to_string(type);
}

}  // namespace

bool weight_type_supported(int32_t type) {
  for (int32_t s : kSupported) {
    if (s == type) return true;
  }
  return false;
}

int supported_weight_types(int32_t* out, int cap) {
  int n = 0;
  for (int32_t s : kSupported) {
    if (n < cap) out[n] = s;
    ++n;
  }
  return n < cap ? n : cap;
}

ActFormat activation_format(int32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: return ActFormat::F32;
    case GgmlType::F16: return ActFormat::F16;
    case GgmlType::BF16: return ActFormat::BF16;
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
    case GgmlType::IQ4_NL: return ActFormat::Q8_0;
    case GgmlType::Q4_1:
    case GgmlType::Q5_1: return ActFormat::Q8_1;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ4_XS: return ActFormat::Q8_K;
    default: break;
  }
  throw NativeError("ERR_UNSUPPORTED_TYPE", "the CPU kernels cannot read weight type " + type_label(type));
}

int64_t weight_block_elems(int32_t type) {
  if (!weight_type_supported(type)) activation_format(type);  // throws
  return ggml_type_traits(type)->block_elems;
}

int64_t weight_block_bytes(int32_t type) {
  if (!weight_type_supported(type)) activation_format(type);  // throws
  return ggml_type_traits(type)->block_bytes;
}

int64_t weight_row_bytes(int32_t type, int64_t n) {
  const int64_t be = weight_block_elems(type);
  if (n < 0 || n % be != 0) {
    throw NativeError("ERR_INVALID_ARG", "a " + type_label(type) + " row must hold a multiple of " +
                                             std::to_string(be) + " elements, not " + std::to_string(n));
  }
  return n / be * weight_block_bytes(type);
}

void require_supported_weight(int32_t type, const std::string& tensor_name) {
  if (weight_type_supported(type)) return;
  throw NativeError("ERR_UNSUPPORTED_TYPE", "tensor '" + tensor_name + "' has type " + type_label(type) +
                                                ", which the CPU kernels do not support");
}

const char* act_format_name(ActFormat f) {
  switch (f) {
    case ActFormat::F32: return "f32";
    case ActFormat::F16: return "f16";
    case ActFormat::BF16: return "bf16";
    case ActFormat::Q8_0: return "q8_0";
    case ActFormat::Q8_1: return "q8_1";
    case ActFormat::Q8_K: return "q8_K";
  }
  return "?";
}

}  // namespace shortgpt::cpu
