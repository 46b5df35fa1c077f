// Which ggml weight formats the CPU kernels read, and what each one's matmul
// input is quantized to (llama.cpp's vec_dot_type, facts §4), so integer dot
// products can be used and results stay close to llama.cpp's.
#pragma once

#include <cstdint>
#include <string>

namespace shortgpt::cpu {

// The activation side of a matmul.
enum class ActFormat { F32, F16, BF16, Q8_0, Q8_1, Q8_K };

// True for F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS.
bool weight_type_supported(int32_t type);

// The supported ids in ascending order; returns how many were written (at most `cap`).
int supported_weight_types(int32_t* out, int cap);

// Activation format for a supported weight type (throws ERR_UNSUPPORTED_TYPE otherwise).
ActFormat activation_format(int32_t type);

// Elements per block (1 for the float formats) and bytes per block.
int64_t weight_block_elems(int32_t type);
int64_t weight_block_bytes(int32_t type);

// Bytes of one row of n elements; throws ERR_INVALID_ARG when n is not a whole
// number of blocks.
int64_t weight_row_bytes(int32_t type, int64_t n);

// Throws NativeError ERR_UNSUPPORTED_TYPE naming the tensor and the type when the
// CPU kernels cannot read `type`. The engine calls this for every weight at open.
void require_supported_weight(int32_t type, const std::string& tensor_name);

const char* act_format_name(ActFormat f);

}  // namespace shortgpt::cpu
