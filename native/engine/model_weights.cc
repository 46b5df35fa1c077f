#include "engine/model_weights.h"

#include "common/error.h"
#include "cpu/dequantize.h"
#include "cpu/weight_types.h"

namespace shortgpt {

namespace {

std::string shape_text(const TensorInfo& t) {
  std::string s = "[";
  for (int d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

// Binds tensors by name against the table, with the checks every weight gets.
class Binder {
 public:
  Binder(const TensorTable& table, const MappedFile& file) : table_(table), file_(file) {}

  const TensorInfo& find(const std::string& name) const {
    const TensorInfo* t = table_.find(name);
    if (!t) throw NativeError("ERR_MISSING_TENSOR", "tensor '" + name + "' is missing from " + file_.path());
    return *t;
  }

  // A matrix of `rows` rows of `cols` elements (ggml dims [cols, rows]).
  Matrix matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const TensorInfo& t = find(name);
    if (t.ne[0] != cols || t.ne[1] != rows || t.ne[2] != 1 || t.ne[3] != 1) {
      throw NativeError("ERR_TENSOR_SHAPE", "tensor '" + name + "' has shape " + shape_text(t) + ", the model needs [" +
                                                std::to_string(cols) + ", " + std::to_string(rows) + "]");
    }
    cpu::require_supported_weight(t.type, name);
    // fp16 scales are read in place: the data must be 2-byte aligned.
    if (t.offset % 2 != 0) {
      throw NativeError("ERR_TENSOR_ALIGNMENT", "tensor '" + name + "' starts at an odd offset in " + file_.path());
    }
    Matrix m;
    m.name = name;
    m.w.type = t.type;
    m.w.data = file_.data() + t.offset;
    m.w.n_in = cols;
    m.w.n_out = rows;
    m.w.row_bytes = static_cast<size_t>(cpu::weight_row_bytes(t.type, cols));
    cpu::check_weight(m.w);
    return m;
  }

  Matrix optional_matrix(const std::string& name, int64_t cols, int64_t rows) const {
    return name.empty() ? Matrix{} : matrix(name, cols, rows);
  }

  // A vector of n elements, dequantized to f32.
  Vec vec(const std::string& name, int64_t n) const {
    const TensorInfo& t = find(name);
    if (t.ne[0] != n || t.ne[1] != 1 || t.ne[2] != 1 || t.ne[3] != 1) {
      throw NativeError("ERR_TENSOR_SHAPE", "tensor '" + name + "' has shape " + shape_text(t) + ", the model needs [" +
                                                std::to_string(n) + "]");
    }
    cpu::require_supported_weight(t.type, name);
    Vec out(static_cast<size_t>(n));
    cpu::dequantize_row(t.type, file_.data() + t.offset, out.data(), n);
    return out;
  }

  Vec optional_vec(const std::string& name, int64_t n) const { return name.empty() ? Vec{} : vec(name, n); }

 private:
  const TensorTable& table_;
  const MappedFile& file_;
};

}  // namespace

ModelWeights::ModelWeights(const ModelConfig& c, const TensorTable& table, const MappedFile& file) {
  validate_model_config(c);
  Binder b(table, file);
  const int64_t E = c.n_embd;
  token_embd_ = b.matrix(c.token_embd, E, c.n_vocab);
  output_norm_ = b.vec(c.output_norm, E);
  output_ = b.matrix(c.output, E, c.n_vocab);
  output_bias_ = b.optional_vec(c.output_bias, c.n_vocab);
  const int64_t half_rot = c.rope.n_rot / 2;
  rope_factors_ = b.optional_vec(c.rope.freq_factors, half_rot);
  rope_short_ = b.optional_vec(c.rope.freq_factors_short, half_rot);
  rope_long_ = b.optional_vec(c.rope.freq_factors_long, half_rot);

  blocks_.resize(c.blocks.size());
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockConfig& bc = c.blocks[i];
    const BlockTensorNames& n = bc.tensors;
    BlockWeights& w = blocks_[i];
    const int64_t q_width = int64_t(bc.n_head) * c.head_dim_k;
    const int64_t k_width = int64_t(bc.n_head_kv) * c.head_dim_k;
    const int64_t v_width = int64_t(bc.n_head_kv) * c.head_dim_v;
    const int64_t attn_out = int64_t(bc.n_head) * c.head_dim_v;
    w.attn_norm = b.vec(n.attn_norm, E);
    if (!n.qkv.empty()) {
      w.qkv = b.matrix(n.qkv, E, q_width + k_width + v_width);
      w.qkv_bias = b.optional_vec(n.qkv_bias, q_width + k_width + v_width);
    } else {
      w.q = b.matrix(n.q, E, q_width);
      w.k = b.matrix(n.k, E, k_width);
      w.v = b.matrix(n.v, E, v_width);
      w.q_bias = b.optional_vec(n.q_bias, q_width);
      w.k_bias = b.optional_vec(n.k_bias, k_width);
      w.v_bias = b.optional_vec(n.v_bias, v_width);
    }
    w.output = b.matrix(n.output, attn_out, E);
    w.output_bias = b.optional_vec(n.output_bias, E);
    w.q_norm = b.optional_vec(n.q_norm, c.head_dim_k);
    w.k_norm = b.optional_vec(n.k_norm, c.head_dim_k);
    w.post_attn_norm = b.optional_vec(n.post_attn_norm, E);
    w.ffn_norm = b.vec(n.ffn_norm, E);
    const bool fused = n.gate.empty();
    w.gate = b.optional_matrix(n.gate, E, bc.n_ff);
    w.up = b.matrix(n.up, E, fused ? 2 * int64_t(bc.n_ff) : bc.n_ff);
    w.down = b.matrix(n.down, bc.n_ff, E);
    w.gate_bias = b.optional_vec(n.gate_bias, bc.n_ff);
    w.up_bias = b.optional_vec(n.up_bias, fused ? 2 * int64_t(bc.n_ff) : bc.n_ff);
    w.down_bias = b.optional_vec(n.down_bias, E);
    w.post_ffn_norm = b.optional_vec(n.post_ffn_norm, E);
  }
}

}  // namespace shortgpt
