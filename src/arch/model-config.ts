/**
 * The resolved model the native engine runs: plain numbers, per-block values
 * and tensor names, nothing left to look up. Built from a GGUF file's metadata
 * and tensor table by the architecture's forward descriptor
 * (src/arch/forward-descriptors.ts, reached through the architecture table in
 * architectures.ts), so the native side never parses GGUF metadata.
 *
 * Facts follow llama.cpp (llama-model.cpp load_hparams, src/models/*.cpp);
 * ../shared/docs/llama-cpp-facts.md §3-4 names them.
 */
import { ShortgptError } from "../errors.js";
import { optionalFloat, optionalInteger, optionalString, perBlockIntegers, requireInteger, architectureOf } from "../gguf/metadata.js";
import type { GgufFile, GgufTensorInfo } from "../gguf/read.js";
import { architectureEntry, forwardArchitectures } from "./architectures.js";
import type { ForwardDescriptor } from "./forward-descriptors.js";

/** Tensor names of one block. Optional entries are absent when the file has no such tensor. */
export interface BlockTensors {
  readonly attnNorm: string;
  /** Separate projections, or one fused `qkv` (phi3 and some llama conversions). */
  readonly q?: string;
  readonly k?: string;
  readonly v?: string;
  readonly qkv?: string;
  readonly qBias?: string;
  readonly kBias?: string;
  readonly vBias?: string;
  readonly qkvBias?: string;
  readonly output: string;
  readonly outputBias?: string;
  /** RMS norms over head_dim applied to Q and K before RoPE (qwen3, gemma3). */
  readonly qNorm?: string;
  readonly kNorm?: string;
  /** Norm of the attention output before the residual add (gemma2, gemma3). */
  readonly postAttnNorm?: string;
  readonly ffnNorm: string;
  /** Absent when `up` holds gate and up halves (phi3). */
  readonly gate?: string;
  readonly up: string;
  readonly down: string;
  readonly gateBias?: string;
  readonly upBias?: string;
  readonly downBias?: string;
  /** Norm of the FFN output before the residual add (gemma2, gemma3). */
  readonly postFfnNorm?: string;
}

export interface BlockConfig {
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nFf: number;
  /** This block attends only within `slidingWindow` positions (its original index decides). */
  readonly slidingWindow: boolean;
  /** RoPE base and frequency scale of this block (gemma3 local blocks use their own). */
  readonly ropeBase: number;
  readonly ropeFreqScale: number;
  readonly tensors: BlockTensors;
}

export type RopeType = "norm" | "neox";
export type FfnActivation = "silu" | "gelu";

export interface RopeConfig {
  readonly type: RopeType;
  /** Rotated dimensions per head (the rest pass through). */
  readonly nRot: number;
  /** YaRN ramp mix (0 = plain interpolation); llama.cpp's ext_factor. */
  readonly extFactor: number;
  /** Multiplies cos and sin (llama.cpp's attn_factor / mscale). */
  readonly attnFactor: number;
  readonly betaFast: number;
  readonly betaSlow: number;
  /** Training context before scaling (YaRN correction dims, long/short factor choice). */
  readonly nCtxOrig: number;
  /** Per-dimension divisors of theta (llama3 `rope_freqs.weight`). */
  readonly freqFactors?: string;
  /** phi3 longrope: short factors up to nCtxOrig, long beyond. */
  readonly freqFactorsShort?: string;
  readonly freqFactorsLong?: string;
}

export interface ModelConfig {
  readonly architecture: string;
  readonly nEmbd: number;
  readonly nVocab: number;
  /** Blocks the engine runs (block_count minus multi-token-prediction blocks). */
  readonly nLayer: number;
  readonly headDimK: number;
  readonly headDimV: number;
  readonly normEps: number;
  /** Token embeddings are multiplied by this (gemma: sqrt(n_embd)). */
  readonly embeddingScale: number;
  /** Scale of Q·Kᵀ. */
  readonly attentionScale: number;
  /** Apply attentionScale to Q before the product (gemma, phi3) rather than to Q·Kᵀ. */
  readonly queryPreScale: boolean;
  /** c·tanh(x/c) on attention logits; 0 = off (gemma2). */
  readonly attnSoftcap: number;
  /** c·tanh(x/c) on output logits; 0 = off (gemma2; gemma3 when the key is present). */
  readonly finalSoftcap: number;
  /** Window of sliding-window blocks: a key at distance >= slidingWindow is masked. 0 = none. */
  readonly slidingWindow: number;
  readonly ffnActivation: FfnActivation;
  readonly rope: RopeConfig;
  readonly tokenEmbd: string;
  readonly outputNorm: string;
  /** The output matrix: `output.weight`, or `token_embd.weight` when tied. */
  readonly output: string;
  readonly outputBias?: string;
  readonly blocks: readonly BlockConfig[];
}

/** Architectures the forward engine runs. */
export function supportedArchitectures(): string[] {
  return forwardArchitectures();
}

function unsupported(file: GgufFile, arch: string): never {
  throw new ShortgptError(
    "ERR_UNSUPPORTED_ARCH",
    `${file.path}: architecture '${arch}' is not supported by the forward engine (supported: ${supportedArchitectures().join(", ")})`,
  );
}

function keyError(file: GgufFile, message: string): never {
  throw new ShortgptError("ERR_GGUF_KEY_VALUE", `${file.path}: ${message}`);
}

/** The forward descriptor of a file's architecture, or ERR_UNSUPPORTED_ARCH. */
export function forwardDescriptorOf(file: GgufFile): ForwardDescriptor {
  const arch = architectureOf(file);
  const descriptor = architectureEntry(arch)?.forward;
  if (!descriptor) unsupported(file, arch);
  return descriptor;
}

/** Everything the descriptor needs from the file, read once with llama.cpp's defaults. */
export interface Hparams {
  readonly file: GgufFile;
  readonly arch: string;
  readonly nEmbd: number;
  readonly blockCount: number;
  readonly nLayer: number;
  readonly nHead: readonly number[];
  readonly nHeadKv: readonly number[];
  readonly nFf: readonly number[];
  readonly headDimK: number;
  readonly headDimV: number;
  readonly ropeBase: number;
  readonly ropeFreqScale: number;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  /** `{arch}.<suffix>` as a float, or undefined. */
  float(suffix: string): number | undefined;
  integer(suffix: string): number | undefined;
}

function readHparams(file: GgufFile, arch: string): Hparams {
  const k = (suffix: string) => `${arch}.${suffix}`;
  const nEmbd = requireInteger(file, k("embedding_length"));
  const blockCount = requireInteger(file, k("block_count"));
  // llama.cpp: 1 <= n_layer <= 512 (LLAMA_MAX_LAYERS).
  if (blockCount < 1 || blockCount > 512) keyError(file, `${k("block_count")} = ${blockCount} is outside 1..512`);
  const nextn = optionalInteger(file, k("nextn_predict_layers")) ?? 0;
  if (nextn < 0 || nextn >= blockCount) keyError(file, `${k("nextn_predict_layers")} = ${nextn} does not fit block_count ${blockCount}`);
  const nLayer = blockCount - nextn;
  const nHead = perBlockIntegers(file, k("attention.head_count"), blockCount) ?? keyError(file, `${k("attention.head_count")} is missing`);
  const nHeadKv = perBlockIntegers(file, k("attention.head_count_kv"), blockCount) ?? nHead;
  const nFf = perBlockIntegers(file, k("feed_forward_length"), blockCount) ?? keyError(file, `${k("feed_forward_length")} is missing`);
  const head0 = nHead[0]!;
  if (head0 <= 0) keyError(file, `${k("attention.head_count")} must be positive`);
  const headDimK = optionalInteger(file, k("attention.key_length")) ?? Math.floor(nEmbd / head0);
  const headDimV = optionalInteger(file, k("attention.value_length")) ?? headDimK;
  const ropeBase = optionalFloat(file, k("rope.freq_base")) ?? 10000;
  // freq_scale = 1/factor (legacy key scale_linear); forced to 1 for scaling type none.
  const factor = optionalFloat(file, k("rope.scaling.factor")) ?? optionalFloat(file, k("rope.scale_linear")) ?? 0;
  const scalingType = optionalString(file, k("rope.scaling.type")) ?? "linear";
  const ropeFreqScale = scalingType === "none" || factor === 0 ? 1 : 1 / factor;
  return {
    file,
    arch,
    nEmbd,
    blockCount,
    nLayer,
    nHead,
    nHeadKv,
    nFf,
    headDimK,
    headDimV,
    ropeBase,
    ropeFreqScale,
    tensors: new Map(file.tensors.map((t) => [t.name, t])),
    float: (suffix) => optionalFloat(file, k(suffix)),
    integer: (suffix) => optionalInteger(file, k(suffix)),
  };
}

function ropeConfig(hp: Hparams, descriptor: ForwardDescriptor): RopeConfig {
  const { file, arch } = hp;
  const k = (suffix: string) => `${arch}.${suffix}`;
  const nRot = optionalInteger(file, k("rope.dimension_count")) ?? hp.headDimK;
  if (nRot <= 0 || nRot > hp.headDimK || nRot % 2 !== 0) {
    keyError(file, `${k("rope.dimension_count")} = ${nRot} must be even and at most the head size ${hp.headDimK}`);
  }
  const scalingType = optionalString(file, k("rope.scaling.type")) ?? "linear";
  if (!["none", "linear", "yarn", "longrope"].includes(scalingType)) {
    throw new ShortgptError("ERR_UNSUPPORTED_ROPE", `${file.path}: RoPE scaling type '${scalingType}' is not supported (none, linear, yarn, longrope)`);
  }
  const contextLength = optionalInteger(file, k("context_length")) ?? 0;
  const nCtxOrig = optionalInteger(file, k("rope.scaling.original_context_length")) ?? contextLength;
  const isYarn = scalingType === "yarn";
  const has = (name: string) => hp.tensors.has(name);
  return {
    type: descriptor.ropeType,
    nRot,
    // llama.cpp: ext_factor defaults to 1 for YaRN, 0 otherwise.
    extFactor: isYarn ? (optionalFloat(file, k("rope.scaling.yarn_ext_factor")) ?? 1) : 0,
    attnFactor: optionalFloat(file, k("rope.scaling.attn_factor")) ?? 1,
    betaFast: optionalFloat(file, k("rope.scaling.yarn_beta_fast")) ?? 32,
    betaSlow: optionalFloat(file, k("rope.scaling.yarn_beta_slow")) ?? 1,
    nCtxOrig,
    ...(has("rope_freqs.weight") ? { freqFactors: "rope_freqs.weight" } : {}),
    ...(has("rope_factors_short.weight") ? { freqFactorsShort: "rope_factors_short.weight" } : {}),
    ...(has("rope_factors_long.weight") ? { freqFactorsLong: "rope_factors_long.weight" } : {}),
  };
}

function blockTensors(hp: Hparams, descriptor: ForwardDescriptor, il: number): BlockTensors {
  const name = (t: string) => `blk.${il}.${t}`;
  const present = (t: string) => hp.tensors.has(name(t));
  const opt = (key: keyof BlockTensors, t: string) => (present(t) ? { [key]: name(t) } : {});
  const fusedQkv = !present("attn_q.weight") && present("attn_qkv.weight");
  const fusedFfn = descriptor.ffnGate === "fused-up";
  return {
    attnNorm: name("attn_norm.weight"),
    ...(fusedQkv
      ? { qkv: name("attn_qkv.weight"), ...opt("qkvBias", "attn_qkv.bias") }
      : {
          q: name("attn_q.weight"),
          k: name("attn_k.weight"),
          v: name("attn_v.weight"),
          // qwen2 requires the biases: naming them lets the engine report a missing one.
          ...(descriptor.qkvBias === "required"
            ? { qBias: name("attn_q.bias"), kBias: name("attn_k.bias"), vBias: name("attn_v.bias") }
            : { ...opt("qBias", "attn_q.bias"), ...opt("kBias", "attn_k.bias"), ...opt("vBias", "attn_v.bias") }),
        }),
    output: name("attn_output.weight"),
    ...opt("outputBias", "attn_output.bias"),
    ...(descriptor.qkNorm ? { qNorm: name("attn_q_norm.weight"), kNorm: name("attn_k_norm.weight") } : {}),
    ...(descriptor.postNorms ? { postAttnNorm: name("post_attention_norm.weight") } : {}),
    ffnNorm: name("ffn_norm.weight"),
    ...(fusedFfn ? {} : { gate: name("ffn_gate.weight") }),
    up: name("ffn_up.weight"),
    down: name("ffn_down.weight"),
    ...(fusedFfn ? {} : opt("gateBias", "ffn_gate.bias")),
    ...opt("upBias", "ffn_up.bias"),
    ...opt("downBias", "ffn_down.bias"),
    ...(descriptor.postNorms ? { postFfnNorm: name("post_ffw_norm.weight") } : {}),
  };
}

/**
 * The engine's ModelConfig for a GGUF file. Throws ERR_UNSUPPORTED_ARCH for
 * architectures without a forward descriptor, ERR_GGUF_* for missing or bad
 * metadata. Tensor presence, shapes and types are checked by the native engine
 * when it opens the file (it trusts nothing it did not check).
 */
export function modelConfig(file: GgufFile): ModelConfig {
  const arch = architectureOf(file);
  const descriptor = forwardDescriptorOf(file);
  const hp = readHparams(file, arch);
  const eps = hp.float("attention.layer_norm_rms_epsilon");
  if (eps === undefined) keyError(file, `${arch}.attention.layer_norm_rms_epsilon is missing`);
  const tokenEmbd = hp.tensors.get("token_embd.weight");
  if (!tokenEmbd) throw new ShortgptError("ERR_MISSING_TENSOR", `${file.path}: tensor 'token_embd.weight' is missing`);
  const nVocab = tokenEmbd.dims[1] ?? 1;
  const tied = descriptor.alwaysTiedOutput === true || !hp.tensors.has("output.weight");
  const window = descriptor.slidingWindow(hp);
  const blocks: BlockConfig[] = [];
  for (let il = 0; il < hp.nLayer; il++) {
    const swa = window.window > 0 && window.isSliding(il);
    const rope = descriptor.ropeFor(hp, swa);
    blocks.push({
      nHead: hp.nHead[il]!,
      nHeadKv: hp.nHeadKv[il]!,
      nFf: hp.nFf[il]!,
      slidingWindow: swa,
      ropeBase: rope.base,
      ropeFreqScale: rope.freqScale,
      tensors: blockTensors(hp, descriptor, il),
    });
  }
  for (const [il, b] of blocks.entries()) {
    if (b.nHead <= 0 || b.nHeadKv <= 0 || b.nHead % b.nHeadKv !== 0) {
      keyError(file, `block ${il}: head_count ${b.nHead} is not a positive multiple of head_count_kv ${b.nHeadKv}`);
    }
    if (b.nFf <= 0) keyError(file, `block ${il}: feed_forward_length must be positive`);
  }
  return {
    architecture: arch,
    nEmbd: hp.nEmbd,
    nVocab,
    nLayer: hp.nLayer,
    headDimK: hp.headDimK,
    headDimV: hp.headDimV,
    normEps: eps,
    embeddingScale: descriptor.embeddingScale === "sqrt-embd" ? Math.fround(Math.sqrt(hp.nEmbd)) : 1,
    attentionScale: descriptor.attentionScale(hp),
    queryPreScale: descriptor.queryPreScale,
    attnSoftcap: descriptor.attnSoftcap(hp),
    finalSoftcap: descriptor.finalSoftcap(hp),
    slidingWindow: window.window,
    ffnActivation: descriptor.ffnActivation,
    rope: ropeConfig(hp, descriptor),
    tokenEmbd: "token_embd.weight",
    outputNorm: "output_norm.weight",
    output: tied ? "token_embd.weight" : "output.weight",
    ...(hp.tensors.has("output.bias") ? { outputBias: "output.bias" } : {}),
    blocks,
  };
}
