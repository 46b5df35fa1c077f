/**
 * How each supported architecture runs a block: the forward half of the
 * architecture table (architectures.ts holds the entries; model-config.ts
 * turns a descriptor plus a file into the engine's ModelConfig).
 *
 * Facts from llama.cpp (src/models/{llama,qwen2,qwen3,phi3,gemma2,gemma3}.cpp,
 * llama-model.cpp load_hparams and llama_model_rope_type; facts §3-4):
 *
 * | arch   | RoPE | FFN                 | extras                                                   |
 * | llama  | NORM | SwiGLU              | optional biases; llama3 rope_freqs.weight                 |
 * | qwen2  | NEOX | SwiGLU              | q/k/v biases (required)                                   |
 * | qwen3  | NEOX | SwiGLU              | Q/K RMS norm over head_dim before RoPE                    |
 * | phi3   | NEOX | SwiGLU, fused up    | Q pre-scaled by 1/sqrt(head_dim); SWA disabled            |
 * | gemma2 | NEOX | GeGLU               | x*sqrt(n_embd); post-norms; attn softcap 50; final 30;    |
 * |        |      |                     | SWA period 2 (window 4096); always tied output            |
 * | gemma3 | NEOX | GeGLU               | x*sqrt(n_embd); post-norms; QK-norm; SWA period 6 with    |
 * |        |      |                     | local RoPE base 10000; final softcap only when the key is |
 * |        |      |                     | present                                                   |
 *
 * Gemma's norm weights are stored +1 by the converter and used as they are.
 */
import { optionalInteger } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/read.js";
import { isArrayKv } from "../gguf/value.js";
import type { Hparams } from "./model-config.js";

export interface SlidingWindow {
  /** n_swa; 0 when no block uses a window. */
  readonly window: number;
  /** Whether block `il` (its original index) is a sliding-window block. */
  isSliding(il: number): boolean;
}

export interface ForwardDescriptor {
  readonly ropeType: "norm" | "neox";
  readonly ffnActivation: "silu" | "gelu";
  /** "separate": ffn_gate + ffn_up; "fused-up": ffn_up holds [gate | up] (phi3). */
  readonly ffnGate: "separate" | "fused-up";
  readonly qkNorm: boolean;
  readonly postNorms: boolean;
  readonly qkvBias: "optional" | "required";
  readonly embeddingScale: "none" | "sqrt-embd";
  readonly queryPreScale: boolean;
  /** output.weight is never read; token_embd.weight is the output matrix. */
  readonly alwaysTiedOutput?: boolean;
  attentionScale(hp: Hparams): number;
  attnSoftcap(hp: Hparams): number;
  finalSoftcap(hp: Hparams): number;
  slidingWindow(hp: Hparams): SlidingWindow;
  /** RoPE base and frequency scale of a block. */
  ropeFor(hp: Hparams, sliding: boolean): { base: number; freqScale: number };
}

const NO_WINDOW: SlidingWindow = { window: 0, isSliding: () => false };

/** 1/sqrt(head_dim), computed in float as llama.cpp does. */
function invSqrtHeadDim(hp: Hparams): number {
  return Math.fround(1 / Math.fround(Math.sqrt(hp.headDimK)));
}

function globalRope(hp: Hparams): { base: number; freqScale: number } {
  return { base: hp.ropeBase, freqScale: hp.ropeFreqScale };
}

/**
 * The SWA period llama.cpp uses: only a scalar `{arch}.attention.sliding_window_pattern`
 * is honoured; an array is ignored and the default kept (facts §3). Shared
 * with the pruner's layer-index rules (architectures.ts).
 */
export function swaPeriodOf(file: GgufFile, arch: string, fallback: number): { period: number; fromKey: boolean } {
  const key = `${arch}.attention.sliding_window_pattern`;
  const entry = file.get(key);
  if (entry && !isArrayKv(entry)) {
    const p = optionalInteger(file, key);
    if (p !== undefined && p > 0) return { period: p, fromKey: true };
  }
  return { period: fallback, fromKey: false };
}

function swaPeriod(hp: Hparams, fallback: number): number {
  return swaPeriodOf(hp.file, hp.arch, fallback).period;
}

/** set_swa_pattern(P): block il is local when il % P < P - 1. */
function periodic(window: number, period: number): SlidingWindow {
  return { window, isSliding: (il) => il % period < period - 1 };
}

/**
 * gemma2/gemma3 27B: llama.cpp picks the scale by the block count (46 / 62)
 * of the model as loaded. The engine always runs the original block count
 * (skipping simulates removal), so the original's scale is kept.
 */
function gemmaScale(hp: Hparams, bigModelLayers: number): number {
  if (hp.blockCount === bigModelLayers) {
    return Math.fround(1 / Math.fround(Math.sqrt(Math.floor(hp.nEmbd / hp.nHead[0]!))));
  }
  return invSqrtHeadDim(hp);
}

const llamaLike = {
  ffnActivation: "silu",
  ffnGate: "separate",
  qkNorm: false,
  postNorms: false,
  qkvBias: "optional",
  embeddingScale: "none",
  queryPreScale: false,
  attentionScale: invSqrtHeadDim,
  attnSoftcap: () => 0,
  finalSoftcap: () => 0,
  slidingWindow: () => NO_WINDOW,
  ropeFor: globalRope,
} as const satisfies Omit<ForwardDescriptor, "ropeType">;

export const LLAMA: ForwardDescriptor = {
  ...llamaLike,
  ropeType: "norm",
  // llama.cpp honours `{arch}.attention.scale` when present (f_attention_scale).
  attentionScale: (hp) => hp.float("attention.scale") ?? invSqrtHeadDim(hp),
};

export const QWEN2: ForwardDescriptor = { ...llamaLike, ropeType: "neox", qkvBias: "required" };

export const QWEN3: ForwardDescriptor = { ...llamaLike, ropeType: "neox", qkNorm: true };

export const PHI3: ForwardDescriptor = {
  ...llamaLike,
  ropeType: "neox",
  ffnGate: "fused-up",
  queryPreScale: true,
  // llama.cpp disables phi3's sliding window even when the key is set.
  slidingWindow: () => NO_WINDOW,
};

export const GEMMA2: ForwardDescriptor = {
  ropeType: "neox",
  ffnActivation: "gelu",
  ffnGate: "separate",
  qkNorm: false,
  postNorms: true,
  qkvBias: "optional",
  embeddingScale: "sqrt-embd",
  queryPreScale: true,
  alwaysTiedOutput: true,
  attentionScale: (hp) => gemmaScale(hp, 46),
  attnSoftcap: (hp) => hp.float("attn_logit_softcapping") ?? 50,
  finalSoftcap: (hp) => hp.float("final_logit_softcapping") ?? 30,
  slidingWindow: (hp) => periodic(hp.integer("attention.sliding_window") ?? 4096, swaPeriod(hp, 2)),
  ropeFor: globalRope,
};

export const GEMMA3: ForwardDescriptor = {
  ropeType: "neox",
  ffnActivation: "gelu",
  ffnGate: "separate",
  qkNorm: true,
  postNorms: true,
  qkvBias: "optional",
  embeddingScale: "sqrt-embd",
  queryPreScale: true,
  attentionScale: (hp) => gemmaScale(hp, 62),
  attnSoftcap: () => 0,
  finalSoftcap: (hp) => hp.float("final_logit_softcapping") ?? 0,
  slidingWindow: (hp) => {
    const window = hp.integer("attention.sliding_window") ?? 0;
    return window > 0 ? periodic(window, swaPeriod(hp, 6)) : NO_WINDOW;
  },
  // Local blocks: rope_freq_base_train_swa = 10000 (or the file's freq_base_swa), scale 1.
  ropeFor: (hp, sliding) => (sliding ? { base: hp.float("rope.freq_base_swa") ?? 10000, freqScale: 1 } : globalRope(hp)),
};
