/**
 * Small random models of every architecture the engine runs, with F32 weights
 * (src/models/random-model.ts makes them), shared by the tests that hold the
 * engine to llama.cpp (engine-archs, engine-decode) and the CUDA backend to
 * the CPU one (engine-cuda): qwen2 (q/k/v biases), qwen3 (Q/K norms), phi3
 * (fused QKV and gate|up), gemma2 (softcaps, sliding window every other
 * block, post-norms, GeGLU, scaled embeddings) and gemma3 (5 local : 1 global
 * with two RoPE bases, Q/K norms), plus llama with llama3 RoPE frequency
 * factors. The vocabulary is stories260K's (llama.cpp needs one to load a
 * model); the sliding window is 16 so 80-token sequences exercise it, and
 * gemma2's softcaps are small (3 and 8) so they bend many logits.
 */
import { join } from "node:path";

import type { GgufKv } from "../../src/gguf/value.js";
import { writeRandomModel, type RandomArchitecture, type RandomModelSpec } from "../../src/models/random-model.js";

export const VOCAB = 512;
export const BLOCKS = 6;
export const TOKENS = 80;

const SHAPE = { embd: 64, blocks: BLOCKS, heads: 4, headsKv: 2, ff: 128, vocab: VOCAB, weights: "F32", seed: 17 } as const;

export const ARCH_MODELS: readonly RandomModelSpec[] = [
  { ...SHAPE, architecture: "llama", ropeFreqFactors: true },
  { ...SHAPE, architecture: "qwen2" },
  { ...SHAPE, architecture: "qwen3" },
  { ...SHAPE, architecture: "phi3" },
  { ...SHAPE, architecture: "gemma2", slidingWindow: 16, attnSoftcap: 3, finalSoftcap: 8 },
  { ...SHAPE, architecture: "gemma3", slidingWindow: 16, ropeBase: 1e6 },
];

export function archModel(architecture: RandomArchitecture): RandomModelSpec {
  return ARCH_MODELS.find((m) => m.architecture === architecture)!;
}

/** Writes the model into `dir` with the given tokenizer keys and returns its path. */
export function buildArchModel(dir: string, spec: RandomModelSpec, tokenizerKv: readonly GgufKv[]): string {
  const path = join(dir, `${spec.architecture}.gguf`);
  writeRandomModel({ ...spec, extraKv: [...(spec.extraKv ?? []), ...tokenizerKv] }, path);
  return path;
}
