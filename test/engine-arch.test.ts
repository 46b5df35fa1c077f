/**
 * The architecture descriptors: what ModelConfig each supported architecture
 * yields from its metadata and tensor names (facts from llama.cpp's
 * llama-model.cpp and src/models/*.cpp), on the real models and on
 * hand-built headers. No native code runs here.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { modelConfig, supportedArchitectures, type ModelConfig } from "../src/arch/model-config.js";
import { readGguf } from "../src/gguf/read.js";
import { kv, type GgufKv } from "../src/gguf/value.js";
import { writeModel, type ModelTensor } from "../src/models/random-model.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, STORIES_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-arch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const E = 64;
const FF = 96;
const HEADS = 4;
const KV_HEADS = 2;

/** A header-only check: tensors with the right names and shapes, values irrelevant. */
function configFor(arch: string, blocks: number, names: (b: number) => [string, number[]][], extraKv: GgufKv[] = [], globals: [string, number[]][] = []): ModelConfig {
  const tensors: ModelTensor[] = [
    { name: "token_embd.weight", dims: [E, 32], data: new Float32Array(E * 32) },
    { name: "output_norm.weight", dims: [E], data: new Float32Array(E) },
    ...globals.map(([name, dims]) => ({ name, dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) })),
  ];
  for (let b = 0; b < blocks; b++) {
    for (const [name, dims] of names(b)) tensors.push({ name: `blk.${b}.${name}`, dims, data: new Float32Array(dims.reduce((x, y) => x * y, 1)) });
  }
  const path = join(dir, `${arch}-${blocks}-${Math.random().toString(36).slice(2)}.gguf`);
  writeModel(path, { architecture: arch, embd: E, vocab: 32, blocks, heads: HEADS, headsKv: KV_HEADS, ff: FF, extraKv }, tensors);
  return modelConfig(readGguf(path));
}

const hd = E / HEADS;
const attn = (): [string, number[]][] => [
  ["attn_norm.weight", [E]],
  ["attn_q.weight", [E, HEADS * hd]],
  ["attn_k.weight", [E, KV_HEADS * hd]],
  ["attn_v.weight", [E, KV_HEADS * hd]],
  ["attn_output.weight", [HEADS * hd, E]],
];
const ffn = (): [string, number[]][] => [
  ["ffn_norm.weight", [E]],
  ["ffn_gate.weight", [E, FF]],
  ["ffn_up.weight", [E, FF]],
  ["ffn_down.weight", [FF, E]],
];
const gemmaNorms = (): [string, number[]][] => [
  ["post_attention_norm.weight", [E]],
  ["post_ffw_norm.weight", [E]],
];
const qkNorms = (): [string, number[]][] => [
  ["attn_q_norm.weight", [hd]],
  ["attn_k_norm.weight", [hd]],
];

describe("architecture descriptors", () => {
  it("lists the six supported architectures and refuses others by name", () => {
    expect(supportedArchitectures()).toEqual(["llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"]);
    expect(() => configFor("falcon", 1, () => [...attn(), ...ffn()])).toThrow(
      expect.objectContaining({ code: "ERR_UNSUPPORTED_ARCH", message: expect.stringContaining("supported: llama, qwen2, qwen3, phi3, gemma2, gemma3") }),
    );
  });

  it("llama: NORM RoPE, 1/sqrt(head_dim) on Q·K, SwiGLU, optional biases, llama3 rope_freqs, tied output", () => {
    const c = configFor("llama", 2, (b) => [...attn(), ...ffn(), ...(b === 1 ? ([["attn_q.bias", [E]]] as [string, number[]][]) : [])], [], [["rope_freqs.weight", [hd / 2]]]);
    expect(c.rope.type).toBe("norm");
    expect(c.rope.freqFactors).toBe("rope_freqs.weight");
    expect(c.attentionScale).toBe(Math.fround(1 / Math.sqrt(hd)));
    expect(c.queryPreScale).toBe(false);
    expect(c.ffnActivation).toBe("silu");
    expect(c.output).toBe("token_embd.weight");
    expect(c.blocks[0]!.tensors.qBias).toBeUndefined();
    expect(c.blocks[1]!.tensors.qBias).toBe("blk.1.attn_q.bias");
    expect(c.blocks[0]!.nHeadKv).toBe(KV_HEADS);
    expect(c.slidingWindow).toBe(0);
  });

  it("qwen2 requires q/k/v biases; qwen3 has Q/K norms; both NEOX", () => {
    const q2 = configFor("qwen2", 1, () => [...attn(), ...ffn()]);
    expect(q2.rope.type).toBe("neox");
    expect(q2.blocks[0]!.tensors).toMatchObject({ qBias: "blk.0.attn_q.bias", kBias: "blk.0.attn_k.bias", vBias: "blk.0.attn_v.bias" });
    const q3 = configFor("qwen3", 1, () => [...attn(), ...qkNorms(), ...ffn()]);
    expect(q3.rope.type).toBe("neox");
    expect(q3.blocks[0]!.tensors).toMatchObject({ qNorm: "blk.0.attn_q_norm.weight", kNorm: "blk.0.attn_k_norm.weight" });
    expect(q3.blocks[0]!.tensors.qBias).toBeUndefined();
  });

  it("phi3: fused QKV and fused gate|up, Q pre-scaled, sliding window disabled even when set", () => {
    const c = configFor(
      "phi3",
      1,
      () => [
        ["attn_norm.weight", [E]],
        ["attn_qkv.weight", [E, E + 2 * KV_HEADS * hd]],
        ["attn_output.weight", [E, E]],
        ["ffn_norm.weight", [E]],
        ["ffn_up.weight", [E, 2 * FF]],
        ["ffn_down.weight", [FF, E]],
      ],
      [kv.u32("phi3.attention.sliding_window", 2047)],
    );
    expect(c.blocks[0]!.tensors.qkv).toBe("blk.0.attn_qkv.weight");
    expect(c.blocks[0]!.tensors.q).toBeUndefined();
    expect(c.blocks[0]!.tensors.gate).toBeUndefined();
    expect(c.queryPreScale).toBe(true);
    expect(c.slidingWindow).toBe(0);
    expect(c.rope.type).toBe("neox");
  });

  it("gemma2: period-2 sliding window (4096 by default), softcaps 50 and 30, embeddings × sqrt(n_embd), always tied", () => {
    const c = configFor("gemma2", 4, () => [...attn(), ...gemmaNorms(), ...ffn()], [], [["output.weight", [E, 32]]]);
    expect(c.blocks.map((b) => b.slidingWindow)).toEqual([true, false, true, false]);
    expect(c.slidingWindow).toBe(4096);
    expect(c.attnSoftcap).toBe(50);
    expect(c.finalSoftcap).toBe(30);
    expect(c.embeddingScale).toBe(Math.fround(Math.sqrt(E)));
    expect(c.output).toBe("token_embd.weight");
    expect(c.ffnActivation).toBe("gelu");
    expect(c.blocks[0]!.tensors.postAttnNorm).toBe("blk.0.post_attention_norm.weight");
  });

  it("gemma3: 5 local : 1 global with its own RoPE base, scalar period key honoured, array ignored, 27B scale rule", () => {
    const names = () => [...attn(), ...qkNorms(), ...gemmaNorms(), ...ffn()];
    const window = kv.u32("gemma3.attention.sliding_window", 512);
    const c = configFor("gemma3", 12, names, [window, kv.f32("gemma3.rope.freq_base", 1e6)]);
    expect(c.blocks.map((b) => (b.slidingWindow ? "L" : "G")).join("")).toBe("LLLLLGLLLLLG");
    expect(c.blocks.map((b) => b.ropeBase)).toEqual([1e4, 1e4, 1e4, 1e4, 1e4, 1e6, 1e4, 1e4, 1e4, 1e4, 1e4, 1e6]);
    expect(c.finalSoftcap).toBe(0);
    expect(c.attnSoftcap).toBe(0);
    expect(c.attentionScale).toBe(Math.fround(1 / Math.sqrt(hd)));
    const p4 = configFor("gemma3", 8, names, [window, kv.u32("gemma3.attention.sliding_window_pattern", 4)]);
    expect(p4.blocks.map((b) => (b.slidingWindow ? "L" : "G")).join("")).toBe("LLLGLLLG");
    const arr = configFor("gemma3", 6, names, [window, kv.u32Array("gemma3.attention.sliding_window_pattern", [1, 1, 1, 1, 1, 1])]);
    expect(arr.blocks.map((b) => (b.slidingWindow ? "L" : "G")).join("")).toBe("LLLLLG");
    const off = configFor("gemma3", 6, names, [kv.u32("gemma3.attention.sliding_window", 0)]);
    expect(off.blocks.every((b) => !b.slidingWindow)).toBe(true);
    const capped = configFor("gemma3", 6, names, [window, kv.f32("gemma3.final_logit_softcapping", 30)]);
    expect(capped.finalSoftcap).toBe(30);
    // llama.cpp's 27B test is n_layer == 62: then 1/sqrt(n_embd / n_head).
    const headKv = [kv.u32("gemma3.attention.key_length", 32), kv.u32("gemma3.attention.value_length", 32)];
    const big = configFor("gemma3", 62, names, [window, ...headKv]);
    expect(big.attentionScale).toBe(Math.fround(1 / Math.sqrt(E / HEADS)));
    const small = configFor("gemma3", 12, names, [window, ...headKv]);
    expect(small.attentionScale).toBe(Math.fround(1 / Math.sqrt(32)));
  });

  it.skipIf(!SHARED_DATA)("the real models: stories260K, SmolLM2, Gemma 3", () => {
    const stories = modelConfig(readGguf(STORIES_PATH));
    expect(stories).toMatchObject({ architecture: "llama", nEmbd: 64, nLayer: 5, headDimK: 8, nVocab: 512, output: "token_embd.weight" });
    expect(stories.rope.nRot).toBe(8);
    const smol = modelConfig(readGguf(SMOLLM2_PATH));
    expect(smol).toMatchObject({ nEmbd: 576, nLayer: 30, headDimK: 64, nVocab: 49152 });
    expect(smol.blocks[0]).toMatchObject({ nHead: 9, nHeadKv: 3, nFf: 1536, ropeBase: 100000 });
    const gemma = modelConfig(readGguf(GEMMA3_PATH));
    expect(gemma).toMatchObject({ architecture: "gemma3", nEmbd: 640, nLayer: 18, headDimK: 256, slidingWindow: 512, queryPreScale: true });
    expect(gemma.attentionScale).toBe(0.0625);
    expect(gemma.blocks.flatMap((b, i) => (b.slidingWindow ? [] : [i]))).toEqual([5, 11, 17]);
  });
});
