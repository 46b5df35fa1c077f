/**
 * GGUF models made up on the spot, the one place tests, `npm run gpu-check` and benchmarks get
 * them from: random weights with the shapes of real models (every architecture the engine
 * runs, every block format, a Llama-3-8B-shaped Q4_K_M), or the tensors a test chooses, written
 * with the project's own GGUF layout (src/gguf/write.ts) and llama.cpp's metadata keys.
 *
 * - `writeRandomModel` streams a random model to disk: a Llama-3-8B-shaped Q4_K_M file (4.9 GB)
 *   takes seconds, and needs no download. For checks that compare two engines on the same file
 *   (CPU vs CUDA in scripts/gpu-check.mjs) and for speed measurements: the numbers mean nothing
 *   as language, but every tensor, shape and format is real.
 * - `randomModelTensors` makes the same tensors in memory, for small models a test edits (a NaN
 *   in one block, a zeroed projection) before `writeModel` writes them.
 *
 * Weights are well scaled so activations stay finite through every block:
 * matrices have standard deviation gain/sqrt(fan-in), norms hover around 1.
 * Each block's update is scaled by its own gain (0.1-0.5 in random order, less
 * in models deeper than 8 blocks; the
 * output projections, or gemma's post-norms), so the blocks' Block Influence
 * values are well apart and a ranking of them is meaningful. The gains stay
 * well under 1: a random network whose blocks rewrite the residual stream
 * amplifies rounding differences from block to block (with gains up to 1.5,
 * scalar and AVX-512 summation order alone changed the argmax token at 5% of
 * positions), which would make a comparison of two backends measure the
 * model's chaos instead of the backends. Everything follows from the seed.
 */
import { closeSync, openSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { performance } from "node:perf_hooks";

import { ShortgptError } from "../errors.js";
import { ggmlType, ggmlTypeByName } from "../gguf/types.js";
import { kv, type GgufKv } from "../gguf/value.js";
import { layoutGguf, tensorByteSize, type GgufTensorSpec } from "../gguf/write.js";
import { fillRandomBlocks, Rng } from "./random-blocks.js";

export type RandomArchitecture = "llama" | "qwen2" | "qwen3" | "gemma2" | "gemma3" | "phi3";

/** The weight matrices of a model, by role. */
export type WeightRole = "token_embd" | "output" | "attn_q" | "attn_k" | "attn_v" | "attn_qkv" | "attn_output" | "ffn_gate" | "ffn_up" | "ffn_down";

/** The format of one matrix: a ggml type name (e.g. "Q4_K"); `block` is null for token_embd and output. */
export type WeightFormat = (role: WeightRole, block: number | null, blocks: number) => string;

/** What the metadata says: llama.cpp's required keys, plus those set here. */
export interface ModelShape {
  /** general.architecture: any name for a hand-built file (an unsupported one included). */
  readonly architecture: string;
  /** general.name (default "random model"). */
  readonly name?: string;
  readonly embd: number;
  readonly blocks: number;
  readonly heads: number;
  readonly headsKv: number;
  /** Head size (default embd / heads); written as attention.key_length / value_length when it differs. */
  readonly headDim?: number;
  readonly ff: number;
  readonly vocab: number;
  /** context_length (default 4096). */
  readonly contextLength?: number;
  /** rope.freq_base, when set (llama.cpp's default is 10000). */
  readonly ropeBase?: number;
  /** gemma2 / gemma3: the sliding window of the local blocks. */
  readonly slidingWindow?: number;
  /** gemma2's attn_logit_softcapping and final_logit_softcapping, when set (llama.cpp's defaults are 50 and 30). */
  readonly attnSoftcap?: number;
  readonly finalSoftcap?: number;
  /** More metadata (e.g. a tokenizer's keys, so llama.cpp can load the file); a key given here replaces the one above. */
  readonly extraKv?: readonly GgufKv[];
}

export interface RandomModelSpec extends ModelShape {
  readonly architecture: RandomArchitecture;
  /** llama: a llama3-style rope_freqs.weight. */
  readonly ropeFreqFactors?: boolean;
  /** Matrix formats: one type name for all, or a rule (see `Q4_K_M`). Norms, biases and factors are F32. */
  readonly weights: string | WeightFormat;
  readonly seed?: number;
}

/** A tensor held in memory: F32 values, or the raw bytes of another type. */
export interface ModelTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  data: Float32Array | { type: number; bytes: Uint8Array };
}

/**
 * llama.cpp's Q4_K_M mix (llama-quant.cpp, llama_tensor_get_type): Q4_K everywhere, Q6_K for
 * the output matrix, and for attn_v and ffn_down in the blocks `use_more_bits` picks (the first
 * and last eighth and every third block between).
 */
export const Q4_K_M: WeightFormat = (role, block, blocks) => {
  if (role === "output") return "Q6_K";
  if ((role === "attn_v" || role === "ffn_down") && block !== null) {
    const eighth = Math.floor(blocks / 8);
    const moreBits = block < eighth || block >= (7 * blocks) / 8 || (block - eighth) % 3 === 2;
    return moreBits ? "Q6_K" : "Q4_K";
  }
  return "Q4_K";
};

interface PlannedTensor extends GgufTensorSpec {
  /** How its values are made. */
  readonly fill: { kind: "random"; std: number } | { kind: "around"; center: number; spread: number } | { kind: "values"; values: Float32Array };
}

function typeId(name: string, tensor: string): number {
  const t = ggmlTypeByName(name);
  if (!t) throw new ShortgptError("ERR_UNSUPPORTED_TYPE", `${tensor}: unknown type ${name}`);
  return t.id;
}

/** The tensors of a model, in llama.cpp's order, with how each one's values are made. */
function planTensors(spec: RandomModelSpec): PlannedTensor[] {
  const { embd: E, blocks, heads: H, headsKv: KV, ff: FF, vocab: V } = spec;
  const hd = spec.headDim ?? E / H;
  const format: WeightFormat = typeof spec.weights === "string" ? () => spec.weights as string : spec.weights;
  const gemma = spec.architecture === "gemma2" || spec.architecture === "gemma3";
  const rng = new Rng((spec.seed ?? 1) * 7919 + 13);
  // Per-block gains of the updates, 0.1..0.5 in a random order: distinct BIs. Deeper models get
  // smaller gains (the sum of squares of 8 blocks at most), so the stream's sensitivity to
  // rounding, which grows like the product of (1 + gain²) over the blocks, stays the same.
  const depth = Math.min(1, Math.sqrt(8 / blocks));
  const gains = Array.from({ length: blocks }, (_, b) => depth * (0.1 + (0.4 * b) / Math.max(1, blocks - 1)));
  for (let i = gains.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [gains[i], gains[j]] = [gains[j]!, gains[i]!];
  }
  const out: PlannedTensor[] = [];
  const matrix = (name: string, role: WeightRole, block: number | null, dims: number[], gain = 1) =>
    out.push({ name, dims, type: typeId(format(role, block, blocks), name), fill: { kind: "random", std: gain / Math.sqrt(dims[0]!) } });
  const norm = (name: string, n: number, center = 1) => out.push({ name, dims: [n], type: 0, fill: { kind: "around", center, spread: 0.2 * center } });
  const bias = (name: string, n: number) => out.push({ name, dims: [n], type: 0, fill: { kind: "random", std: 0.1 } });

  // Gemma multiplies embeddings by sqrt(n_embd): keep the scaled rows near unit size.
  out.push({ name: "token_embd.weight", dims: [E, V], type: typeId(format("token_embd", null, blocks), "token_embd.weight"), fill: { kind: "random", std: gemma ? 1 / Math.sqrt(E) : 1 } });
  if (spec.ropeFreqFactors) {
    // llama3-style divisors: 1 for the fast dimensions, rising to 8 for the slow ones.
    const n = hd / 2;
    out.push({ name: "rope_freqs.weight", dims: [n], type: 0, fill: { kind: "values", values: Float32Array.from({ length: n }, (_, i) => Math.min(8, 1 + Math.max(0, (7 * (i - n / 4)) / (n / 2)))) } });
  }
  for (let b = 0; b < blocks; b++) {
    const p = (t: string) => `blk.${b}.${t}`;
    norm(p("attn_norm.weight"), E);
    if (spec.architecture === "phi3") {
      matrix(p("attn_qkv.weight"), "attn_qkv", b, [E, H * hd + 2 * KV * hd]);
    } else {
      matrix(p("attn_q.weight"), "attn_q", b, [E, H * hd]);
      matrix(p("attn_k.weight"), "attn_k", b, [E, KV * hd]);
      matrix(p("attn_v.weight"), "attn_v", b, [E, KV * hd]);
    }
    if (spec.architecture === "qwen2") {
      bias(p("attn_q.bias"), H * hd);
      bias(p("attn_k.bias"), KV * hd);
      bias(p("attn_v.bias"), KV * hd);
    }
    if (spec.architecture === "qwen3" || spec.architecture === "gemma3") {
      norm(p("attn_q_norm.weight"), hd);
      norm(p("attn_k_norm.weight"), hd);
    }
    // Gemma's post-norms set the update's size whatever the projection's: the gain goes there.
    matrix(p("attn_output.weight"), "attn_output", b, [H * hd, E], gemma ? 1 : gains[b]);
    if (gemma) norm(p("post_attention_norm.weight"), E, gains[b]);
    norm(p("ffn_norm.weight"), E);
    if (spec.architecture === "phi3") {
      matrix(p("ffn_up.weight"), "ffn_up", b, [E, 2 * FF]);
    } else {
      matrix(p("ffn_gate.weight"), "ffn_gate", b, [E, FF]);
      matrix(p("ffn_up.weight"), "ffn_up", b, [E, FF]);
    }
    matrix(p("ffn_down.weight"), "ffn_down", b, [FF, E], gemma ? 1 : gains[b]);
    if (gemma) norm(p("post_ffw_norm.weight"), E, gains[b]);
  }
  norm("output_norm.weight", E);
  // gemma2 always ties the output to the embeddings; gemma3 ties it when output.weight is absent.
  if (!gemma) matrix("output.weight", "output", null, [E, V]);
  for (const t of out) {
    const info = ggmlType(t.type)!;
    if (t.dims[0]! % info.blockElems !== 0) {
      throw new ShortgptError("ERR_TENSOR_SHAPE", `${t.name}: a row of ${t.dims[0]} values is not a whole number of ${info.name} blocks (${info.blockElems})`);
    }
  }
  return out;
}

function metadata(shape: ModelShape): GgufKv[] {
  const a = shape.architecture;
  const k = (suffix: string) => `${a}.${suffix}`;
  const out: GgufKv[] = [
    kv.string("general.architecture", a),
    kv.string("general.name", shape.name ?? "random model"),
    kv.u32(k("context_length"), shape.contextLength ?? 4096),
    kv.u32(k("embedding_length"), shape.embd),
    kv.u32(k("block_count"), shape.blocks),
    kv.u32(k("feed_forward_length"), shape.ff),
    kv.u32(k("attention.head_count"), shape.heads),
    kv.u32(k("attention.head_count_kv"), shape.headsKv),
    kv.f32(k("attention.layer_norm_rms_epsilon"), 1e-6),
  ];
  if (shape.ropeBase !== undefined) out.push(kv.f32(k("rope.freq_base"), shape.ropeBase));
  if (shape.headDim !== undefined && shape.headDim !== shape.embd / shape.heads) {
    out.push(kv.u32(k("attention.key_length"), shape.headDim), kv.u32(k("attention.value_length"), shape.headDim));
  }
  if (shape.slidingWindow !== undefined) out.push(kv.u32(k("attention.sliding_window"), shape.slidingWindow));
  if (shape.attnSoftcap !== undefined) out.push(kv.f32(k("attn_logit_softcapping"), shape.attnSoftcap));
  if (shape.finalSoftcap !== undefined) out.push(kv.f32(k("final_logit_softcapping"), shape.finalSoftcap));
  const extra = shape.extraKv ?? [];
  const replaced = new Set(extra.map((e) => e.key));
  return [...out.filter((e) => !replaced.has(e.key)), ...extra];
}

export interface RandomModelResult {
  readonly path: string;
  readonly fileSize: number;
  /** Bytes of tensor data (what a backend holds as weights). */
  readonly tensorBytes: number;
  readonly tensors: number;
  readonly seconds: number;
}

/** At most this much of a tensor is made at once (the rest streams through the same buffer). */
const CHUNK_BYTES = 32 * 1024 * 1024;

/** The buffer the tensors of a model are made in, piece by piece: its size decides where the pieces start. */
function chunkFor(tensorSizes: readonly number[], headerBytes = 0): Uint8Array {
  return new Uint8Array(Math.min(CHUNK_BYTES, Math.max(...tensorSizes, headerBytes)));
}

/**
 * Makes the bytes of tensor `index` of `spec` in `chunk`, piece by piece, handing each piece
 * to `take` with its byte offset in the tensor (the same bytes whichever way they are kept).
 */
function makeTensor(spec: RandomModelSpec, t: PlannedTensor, index: number, chunk: Uint8Array, take: (bytes: Uint8Array, at: number) => void): void {
  const info = ggmlType(t.type)!;
  const elements = t.dims.reduce((a, b) => a * b, 1);
  const blocks = elements / info.blockElems;
  const rng = new Rng((spec.seed ?? 1) * 1_000_003 + index * 7_919 + 1);
  const perChunk = Math.floor(chunk.length / info.blockBytes);
  for (let b = 0; b < blocks; b += perChunk) {
    const n = Math.min(perChunk, blocks - b);
    const bytes = chunk.subarray(0, n * info.blockBytes);
    if (t.fill.kind === "random") {
      fillRandomBlocks(t.type, bytes, n, t.fill.std, rng);
    } else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let j = 0; j < n; j++) {
        const x = t.fill.kind === "values" ? t.fill.values[b + j]! : t.fill.center + (rng.uniform() * 2 - 1) * t.fill.spread;
        view.setFloat32(j * 4, x, true);
      }
    }
    take(bytes, b * info.blockBytes);
  }
}

/**
 * Writes a random model to `path` (through a temporary file beside it, renamed when complete;
 * removed on failure). Deterministic: the same spec gives the same bytes.
 */
export function writeRandomModel(spec: RandomModelSpec, path: string, onProgress?: (bytesDone: number, bytesTotal: number) => void): RandomModelResult {
  const started = performance.now();
  const tensors = planTensors(spec);
  const layout = layoutGguf({ version: 3, kv: [...metadata(spec), kv.string("general.description", DESCRIPTION)], tensors });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  const chunk = chunkFor(layout.tensorSizes, layout.header.length);
  let written = 0;
  try {
    const writeAll = (bytes: Uint8Array, at: number) => {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    };
    writeAll(layout.header, 0);
    tensors.forEach((t, i) => {
      makeTensor(spec, t, i, chunk, (bytes, at) => {
        writeAll(bytes, layout.tensorOffsets[i]! + at);
        written += bytes.length;
        onProgress?.(written, layout.fileSize - layout.dataOffset);
      });
    });
    // Alignment padding after the last tensor: the file ends where the layout says.
    const tail = layout.fileSize - (layout.tensorOffsets.at(-1)! + layout.tensorSizes.at(-1)!);
    if (tail > 0) writeAll(new Uint8Array(tail), layout.fileSize - tail);
    // No fsync: a made-up model is cheap to make again, and syncing 5 GB would cost more than making it.
    closeSync(fd);
    renameSync(tmp, path);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to remove
    }
    throw error;
  }
  return {
    path,
    fileSize: layout.fileSize,
    tensorBytes: layout.tensorSizes.reduce((a, b) => a + b, 0),
    tensors: tensors.length,
    seconds: (performance.now() - started) / 1000,
  };
}

const DESCRIPTION = "random weights with a real model's shapes (shortgpt random-model)";

/**
 * The tensors `writeRandomModel` writes for `spec`, in memory (the same values): F32 tensors as
 * Float32Array, others as bytes. For small models.
 */
export function randomModelTensors(spec: RandomModelSpec): ModelTensor[] {
  const planned = planTensors(spec);
  const sizes = planned.map((t) => tensorByteSize(t));
  const chunk = chunkFor(sizes);
  return planned.map((t, i) => {
    const bytes = new Uint8Array(sizes[i]!);
    makeTensor(spec, t, i, chunk, (piece, at) => bytes.set(piece, at));
    const data = t.type === 0 ? new Float32Array(bytes.buffer) : { type: t.type, bytes };
    return { name: t.name, dims: [...t.dims], data };
  });
}

/** Writes `tensors` (any names, shapes and types: a hand-built or edited model) to `path`, with `shape`'s metadata. */
export function writeModel(path: string, shape: ModelShape, tensors: readonly ModelTensor[]): void {
  const specs = tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.data instanceof Float32Array ? 0 : t.data.type }));
  const layout = layoutGguf({ version: 3, kv: metadata(shape), tensors: specs });
  const file = new Uint8Array(layout.fileSize);
  file.set(layout.header, 0);
  tensors.forEach((t, i) => {
    const bytes = t.data instanceof Float32Array ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) : t.data.bytes;
    if (bytes.length !== layout.tensorSizes[i]) {
      throw new ShortgptError("ERR_TENSOR_SHAPE", `${t.name}: ${bytes.length} bytes, its type and dims need ${layout.tensorSizes[i]}`);
    }
    file.set(bytes, layout.tensorOffsets[i]!);
  });
  writeFileSync(path, file);
}

/** Llama-3.1-8B's shape (4096 wide, 32 blocks, GQA 32/8, FFN 14336, vocab 128256) in Q4_K_M: about 4.9 GB. */
export const LLAMA3_8B_Q4_K_M: RandomModelSpec = {
  architecture: "llama",
  name: "random Llama-3.1-8B shape, Q4_K_M",
  embd: 4096,
  blocks: 32,
  heads: 32,
  headsKv: 8,
  ff: 14336,
  vocab: 128256,
  contextLength: 8192,
  ropeBase: 500000,
  ropeFreqFactors: true,
  weights: Q4_K_M,
  seed: 8,
};

/** Every format the engine reads, one per block in turn: a model that exercises each decoder. */
const EVERY_FORMAT = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"];

/**
 * Small models, one or more per architecture the engine runs, in several formats: each is a
 * few MB and runs in well under a second on a CPU. Shapes are multiples of 256 so every
 * format fits; sliding windows are short so 256-token windows cross them.
 */
export const SMALL_RANDOM_MODELS: readonly RandomModelSpec[] = [
  { architecture: "llama", name: "llama-q4_k_m", embd: 256, blocks: 8, heads: 4, headsKv: 2, ff: 768, vocab: 2048, ropeBase: 500000, ropeFreqFactors: true, weights: Q4_K_M, seed: 11 },
  {
    architecture: "llama",
    name: "llama-every-format",
    embd: 256,
    blocks: EVERY_FORMAT.length,
    heads: 4,
    headsKv: 2,
    ff: 512,
    vocab: 1024,
    weights: (role, block) => (block === null ? (role === "output" ? "F16" : "Q8_0") : EVERY_FORMAT[block]!),
    seed: 12,
  },
  { architecture: "qwen2", name: "qwen2-q8_0", embd: 256, blocks: 6, heads: 4, headsKv: 2, ff: 768, vocab: 1024, ropeBase: 1e6, weights: "Q8_0", seed: 13 },
  { architecture: "qwen3", name: "qwen3-q6_k", embd: 256, blocks: 6, heads: 4, headsKv: 2, headDim: 128, ff: 768, vocab: 1024, ropeBase: 1e6, weights: "Q6_K", seed: 14 },
  { architecture: "gemma2", name: "gemma2-q4_0", embd: 256, blocks: 6, heads: 4, headsKv: 2, headDim: 128, ff: 1024, vocab: 1024, slidingWindow: 64, weights: "Q4_0", seed: 15 },
  { architecture: "gemma3", name: "gemma3-q5_k", embd: 256, blocks: 12, heads: 4, headsKv: 1, ff: 1024, vocab: 1024, ropeBase: 1e6, slidingWindow: 64, weights: (role) => (role === "token_embd" ? "Q8_0" : "Q5_K"), seed: 16 },
  { architecture: "phi3", name: "phi3-f16", embd: 256, blocks: 6, heads: 4, headsKv: 4, ff: 768, vocab: 1024, weights: (role) => (role === "ffn_down" ? "IQ4_NL" : "F16"), seed: 17 },
];
