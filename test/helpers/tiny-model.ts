/**
 * Hand-built GGUF models for engine tests: a small llama-architecture model
 * whose every weight the test chooses, written with src/gguf/write.ts's
 * layout (so llama.cpp's layout rules hold) and raw tensor bytes. Used where
 * an answer is known in closed form (a block with zero weights leaves the
 * hidden state unchanged; a block that only adds a bias adds exactly that).
 */
import { writeFileSync } from "node:fs";

import { layoutGguf } from "../../src/gguf/write.js";
import { kv, type GgufKv } from "../../src/gguf/value.js";

export interface TinyTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  /** F32 (type 0) values, or raw bytes of another type. */
  data: Float32Array | { type: number; bytes: Uint8Array };
}

export interface TinyModelSpec {
  architecture?: string;
  embd: number;
  vocab: number;
  blocks: number;
  heads: number;
  headsKv: number;
  ff: number;
  extraKv?: GgufKv[];
  /** Tensors by name; builders below fill in the usual llama set. */
  tensors: TinyTensor[];
}

/** Deterministic pseudo-random floats in [-scale, scale). */
export function seededFloats(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 0x100000000) * 2 - 1) * scale;
  }
  return out;
}

/** The standard llama tensor set with random weights (and norms of 1). */
export function llamaTensors(spec: Omit<TinyModelSpec, "tensors">, seed = 1): TinyTensor[] {
  const { embd: E, vocab: V, blocks, heads, headsKv, ff } = spec;
  const hd = E / heads;
  const ones = (n: number) => new Float32Array(n).fill(1);
  const t: TinyTensor[] = [{ name: "token_embd.weight", dims: [E, V], data: seededFloats(E * V, seed, 1) }];
  for (let b = 0; b < blocks; b++) {
    const s = seed * 1000 + b * 10;
    const w = (n: number, k: number) => seededFloats(n, s + k, 1 / Math.sqrt(E));
    t.push(
      { name: `blk.${b}.attn_norm.weight`, dims: [E], data: ones(E) },
      { name: `blk.${b}.attn_q.weight`, dims: [E, heads * hd], data: w(E * heads * hd, 1) },
      { name: `blk.${b}.attn_k.weight`, dims: [E, headsKv * hd], data: w(E * headsKv * hd, 2) },
      { name: `blk.${b}.attn_v.weight`, dims: [E, headsKv * hd], data: w(E * headsKv * hd, 3) },
      { name: `blk.${b}.attn_output.weight`, dims: [heads * hd, E], data: w(heads * hd * E, 4) },
      { name: `blk.${b}.ffn_norm.weight`, dims: [E], data: ones(E) },
      { name: `blk.${b}.ffn_gate.weight`, dims: [E, ff], data: w(E * ff, 5) },
      { name: `blk.${b}.ffn_up.weight`, dims: [E, ff], data: w(E * ff, 6) },
      { name: `blk.${b}.ffn_down.weight`, dims: [ff, E], data: seededFloats(ff * E, s + 7, 1 / Math.sqrt(ff)) },
    );
  }
  t.push({ name: "output_norm.weight", dims: [E], data: ones(E) });
  return t;
}

/** Writes the model to `path` (GGUF v3, llama.cpp's metadata keys). */
export function writeTinyModel(path: string, spec: TinyModelSpec): void {
  const arch = spec.architecture ?? "llama";
  const kvs: GgufKv[] = [
    kv.string("general.architecture", arch),
    kv.string("general.name", "tiny"),
    kv.u32(`${arch}.context_length`, 256),
    kv.u32(`${arch}.embedding_length`, spec.embd),
    kv.u32(`${arch}.block_count`, spec.blocks),
    kv.u32(`${arch}.feed_forward_length`, spec.ff),
    kv.u32(`${arch}.attention.head_count`, spec.heads),
    kv.u32(`${arch}.attention.head_count_kv`, spec.headsKv),
    kv.f32(`${arch}.attention.layer_norm_rms_epsilon`, 1e-5),
    ...(spec.extraKv ?? []),
  ];
  const tensors = spec.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.data instanceof Float32Array ? 0 : t.data.type }));
  const layout = layoutGguf({ version: 3, kv: kvs, tensors });
  const file = new Uint8Array(layout.fileSize);
  file.set(layout.header, 0);
  spec.tensors.forEach((t, i) => {
    const bytes = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data.bytes;
    if (bytes.length !== layout.tensorSizes[i]) throw new Error(`${t.name}: ${bytes.length} bytes, the layout wants ${layout.tensorSizes[i]}`);
    file.set(bytes, layout.tensorOffsets[i]!);
  });
  writeFileSync(path, file);
}
