// The ggml tensor types as stored in GGUF files: id, name, and block geometry.
// The TypeScript reader has the same table (src/gguf/types.ts); a test compares
// the two through ggmlTypeTable() so they cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shortgpt {

enum class GgmlType : int32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3,
  Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20,
  IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35,
  MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
};

constexpr int32_t kGgmlTypeCount = 43;

struct GgmlTypeTraits {
  const char* name;     // nullptr for ids that ggml removed (4, 5, 31-33, 36-38)
  int64_t block_elems;  // elements per block; 0 for removed ids
  int64_t block_bytes;  // bytes per block
};

// Traits for a type id, or nullptr when the id is out of range or removed.
const GgmlTypeTraits* ggml_type_traits(int32_t type_id);

// Bytes of a row of `ne0` elements; the caller has checked ne0 % block_elems == 0.
inline int64_t ggml_row_bytes(const GgmlTypeTraits& t, int64_t ne0) {
  return ne0 / t.block_elems * t.block_bytes;
}

}  // namespace shortgpt
