/**
 * Small random models of every architecture the engine runs, written as GGUF
 * files (shared by engine-archs, which checks them against llama.cpp, and
 * engine-cuda, which checks the CUDA backend against the CPU one): qwen2
 * (q/k/v biases), qwen3 (Q/K norms), phi3 (fused QKV and gate|up), gemma2
 * (softcaps, sliding window every other block, post-norms, GeGLU, scaled
 * embeddings) and gemma3 (5 local : 1 global with two RoPE bases, Q/K norms),
 * plus llama with llama3 RoPE frequency factors. The vocabulary is
 * stories260K's (llama.cpp needs one to load a model); the sliding window is
 * 16 so 80-token sequences exercise it.
 */
import { join } from "node:path";

import { kv, type GgufKv } from "../../src/gguf/value.js";
import { seededFloats, writeTinyModel, type TinyTensor } from "./tiny-model.js";

export const E = 64;
const HEADS = 4;
const KV = 2;
const HD = E / HEADS;
const FF = 128;
export const VOCAB = 512;
export const BLOCKS = 6;
export const TOKENS = 80;

export interface ArchCase {
  arch: string;
  extraKv?: GgufKv[];
  block(b: number, w: (name: string, dims: number[], scale?: number) => TinyTensor, ones: (name: string, n: number) => TinyTensor): TinyTensor[];
  globals?: (w: (name: string, dims: number[], scale?: number) => TinyTensor) => TinyTensor[];
}

const attention = (b: number, w: (name: string, dims: number[], scale?: number) => TinyTensor) => [
  w(`blk.${b}.attn_q.weight`, [E, HEADS * HD]),
  w(`blk.${b}.attn_k.weight`, [E, KV * HD]),
  w(`blk.${b}.attn_v.weight`, [E, KV * HD]),
  w(`blk.${b}.attn_output.weight`, [HEADS * HD, E]),
];
const ffn = (b: number, w: (name: string, dims: number[], scale?: number) => TinyTensor) => [
  w(`blk.${b}.ffn_gate.weight`, [E, FF]),
  w(`blk.${b}.ffn_up.weight`, [E, FF]),
  w(`blk.${b}.ffn_down.weight`, [FF, E]),
];

export const ARCH_CASES: ArchCase[] = [
  {
    arch: "llama",
    block: (b, w, ones) => [ones(`blk.${b}.attn_norm.weight`, E), ...attention(b, w), ones(`blk.${b}.ffn_norm.weight`, E), ...ffn(b, w)],
    // llama3-style per-dimension RoPE divisors.
    globals: () => [{ name: "rope_freqs.weight", dims: [HD / 2], data: Float32Array.from({ length: HD / 2 }, (_, i) => 1 + i * 0.5) }],
  },
  {
    arch: "qwen2",
    block: (b, w, ones) => [
      ones(`blk.${b}.attn_norm.weight`, E),
      ...attention(b, w),
      w(`blk.${b}.attn_q.bias`, [HEADS * HD], 0.2),
      w(`blk.${b}.attn_k.bias`, [KV * HD], 0.2),
      w(`blk.${b}.attn_v.bias`, [KV * HD], 0.2),
      ones(`blk.${b}.ffn_norm.weight`, E),
      ...ffn(b, w),
    ],
  },
  {
    arch: "qwen3",
    block: (b, w, ones) => [
      ones(`blk.${b}.attn_norm.weight`, E),
      ...attention(b, w),
      w(`blk.${b}.attn_q_norm.weight`, [HD], 1),
      w(`blk.${b}.attn_k_norm.weight`, [HD], 1),
      ones(`blk.${b}.ffn_norm.weight`, E),
      ...ffn(b, w),
    ],
  },
  {
    arch: "phi3",
    block: (b, w, ones) => [
      ones(`blk.${b}.attn_norm.weight`, E),
      w(`blk.${b}.attn_qkv.weight`, [E, HEADS * HD + 2 * KV * HD]),
      w(`blk.${b}.attn_output.weight`, [HEADS * HD, E]),
      ones(`blk.${b}.ffn_norm.weight`, E),
      w(`blk.${b}.ffn_up.weight`, [E, 2 * FF]),
      w(`blk.${b}.ffn_down.weight`, [FF, E]),
    ],
  },
  {
    arch: "gemma2",
    extraKv: [kv.u32("gemma2.attention.sliding_window", 16), kv.f32("gemma2.attn_logit_softcapping", 3), kv.f32("gemma2.final_logit_softcapping", 8)],
    block: (b, w, ones) => [
      ones(`blk.${b}.attn_norm.weight`, E),
      ...attention(b, w),
      ones(`blk.${b}.post_attention_norm.weight`, E),
      ones(`blk.${b}.ffn_norm.weight`, E),
      ...ffn(b, w),
      ones(`blk.${b}.post_ffw_norm.weight`, E),
    ],
  },
  {
    arch: "gemma3",
    extraKv: [kv.u32("gemma3.attention.sliding_window", 16), kv.f32("gemma3.rope.freq_base", 1e6)],
    block: (b, w, ones) => [
      ones(`blk.${b}.attn_norm.weight`, E),
      ...attention(b, w),
      w(`blk.${b}.attn_q_norm.weight`, [HD], 1),
      w(`blk.${b}.attn_k_norm.weight`, [HD], 1),
      ones(`blk.${b}.post_attention_norm.weight`, E),
      ones(`blk.${b}.ffn_norm.weight`, E),
      ...ffn(b, w),
      ones(`blk.${b}.post_ffw_norm.weight`, E),
    ],
  },
];

/** Writes the case's model into `dir` and returns its path. */
export function buildArchModel(dir: string, c: ArchCase, tokenizerKv: GgufKv[]): string {
  let seed = 17;
  const w = (name: string, dims: number[], scale?: number): TinyTensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    // Norm-like vectors (scale 1) hover around 1; matrices are scaled by 1/sqrt(fan-in).
    const data = scale === 1 ? seededFloats(n, seed++, 0.5).map((x) => 1 + x) : seededFloats(n, seed++, scale ?? 1 / Math.sqrt(dims[0]!));
    return { name, dims, data };
  };
  const ones = (name: string, n: number): TinyTensor => ({ name, dims: [n], data: new Float32Array(n).fill(1) });
  const tensors: TinyTensor[] = [{ name: "token_embd.weight", dims: [E, VOCAB], data: seededFloats(E * VOCAB, 5, 1) }];
  for (let b = 0; b < BLOCKS; b++) tensors.push(...c.block(b, w, ones));
  tensors.push(ones("output_norm.weight", E), ...(c.globals?.(w) ?? []));
  const path = join(dir, `${c.arch}.gguf`);
  writeTinyModel(path, {
    architecture: c.arch,
    embd: E,
    vocab: VOCAB,
    blocks: BLOCKS,
    heads: HEADS,
    headsKv: KV,
    ff: FF,
    extraKv: [...(c.extraKv ?? []), ...tokenizerKv],
    tensors,
  });
  return path;
}

