/** What `shortgpt inspect` reports about a model, computed from the header alone. */
import { describeRules, layerRules } from "../arch/layer-rules.js";
import { fileTypeOf, type FileType } from "./file-type.js";
import { optionalArray, optionalInteger, optionalString } from "./metadata.js";
import type { GgufFile } from "./read.js";
import { ggmlTypeName } from "./types.js";
import { GgufStringArray } from "./value.js";

export interface TensorTypeShare {
  readonly type: string;
  readonly tensors: number;
  readonly bytes: number;
  /** bytes / total tensor bytes. */
  readonly share: number;
}

export interface ModelSummary {
  readonly path: string;
  readonly fileSize: number;
  readonly ggufVersion: number;
  readonly architecture: string;
  readonly name: string | null;
  /** general.file_type: the quantization mix (Q4_K_M, …), or null when the file does not say. */
  readonly fileType: FileType | null;
  readonly blockCount: number;
  readonly contextLength: number | null;
  readonly embeddingLength: number | null;
  /** Total elements of all tensors. */
  readonly parameters: number;
  readonly tensorCount: number;
  readonly tensorTypes: readonly TensorTypeShare[];
  readonly blocks: {
    /** Bytes of each block's tensors, by block index. */
    readonly bytesPerBlock: readonly number[];
    readonly parametersPerBlock: readonly number[];
    /** Bytes of tensors outside blocks (embeddings, output, norms). */
    readonly nonBlockBytes: number;
  };
  readonly tokenizer: { readonly model: string | null; readonly pre: string | null; readonly vocabSize: number | null };
  readonly rules: {
    readonly known: boolean;
    readonly period: number | null;
    readonly mtpBlocks: number;
    readonly leadingDenseBlocks: number | null;
    readonly perLayerKeys: readonly string[];
    readonly notes: readonly string[];
  };
  /** Provenance when shortgpt wrote this file. */
  readonly shortgpt: { readonly removedLayers: readonly number[]; readonly version: string | null } | null;
}

const BLOCK_TENSOR = /^blk\.(\d+)\./;

/** Weights in a tensor list: the sum of their element counts. */
export function parameterCount(tensors: readonly { readonly dims: readonly number[] }[]): number {
  let n = 0;
  for (const t of tensors) n += t.dims.reduce((a, b) => a * b, 1);
  return n;
}

export function summarizeModel(file: GgufFile): ModelSummary {
  const rules = layerRules(file);
  const arch = rules.architecture;
  const byType = new Map<number, { tensors: number; bytes: number }>();
  const bytesPerBlock = new Array<number>(rules.blockCount).fill(0);
  const parametersPerBlock = new Array<number>(rules.blockCount).fill(0);
  let parameters = 0;
  let nonBlockBytes = 0;
  let tensorBytes = 0;
  for (const t of file.tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    parameters += elements;
    tensorBytes += t.size;
    const entry = byType.get(t.type) ?? { tensors: 0, bytes: 0 };
    entry.tensors++;
    entry.bytes += t.size;
    byType.set(t.type, entry);
    const m = BLOCK_TENSOR.exec(t.name);
    const block = m ? Number(m[1]) : -1;
    if (block >= 0 && block < rules.blockCount) {
      bytesPerBlock[block]! += t.size;
      parametersPerBlock[block]! += elements;
    } else {
      nonBlockBytes += t.size;
    }
  }
  const tokens = optionalArray(file, "tokenizer.ggml.tokens");
  const removed = optionalArray(file, "shortgpt.removed_layers");
  return {
    path: file.path,
    fileSize: file.fileSize,
    ggufVersion: file.version,
    architecture: arch,
    name: optionalString(file, "general.name") ?? null,
    fileType: fileTypeOf(file),
    blockCount: rules.blockCount,
    contextLength: optionalInteger(file, `${arch}.context_length`) ?? null,
    embeddingLength: optionalInteger(file, `${arch}.embedding_length`) ?? null,
    parameters,
    tensorCount: file.tensors.length,
    tensorTypes: [...byType.entries()]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .map(([type, v]) => ({ type: ggmlTypeName(type), tensors: v.tensors, bytes: v.bytes, share: tensorBytes > 0 ? v.bytes / tensorBytes : 0 })),
    blocks: { bytesPerBlock, parametersPerBlock, nonBlockBytes },
    tokenizer: {
      model: optionalString(file, "tokenizer.ggml.model") ?? null,
      pre: optionalString(file, "tokenizer.ggml.pre") ?? null,
      vocabSize: tokens instanceof GgufStringArray ? tokens.length : null,
    },
    rules: {
      known: rules.known,
      period: rules.pattern?.period ?? null,
      mtpBlocks: rules.mtpBlocks,
      leadingDenseBlocks: rules.leadingDenseBlocks ?? null,
      perLayerKeys: rules.perLayerKeys,
      notes: describeRules(rules),
    },
    shortgpt: removed && !(removed instanceof GgufStringArray)
      ? { removedLayers: Array.from(removed as ArrayLike<number>, Number), version: optionalString(file, "shortgpt.version") ?? null }
      : null,
  };
}
