/**
 * The layer-removal rewrite (DESIGN §6): drop every `blk.N.*` tensor of a
 * removed block, renumber the rest contiguously, fix the metadata that counts
 * or lists blocks, record provenance, and write the new file atomically with
 * the kept tensors' bytes copied unchanged.
 */
import { performance } from "node:perf_hooks";

import { checkRemoval, layerRules, type LayerRules, type RemovalProblem } from "../arch/layer-rules.js";
import { checkCallOptions } from "../call-options.js";
import { ShortgptError } from "../errors.js";
import { VERSION } from "../package-info.js";
import { readGguf, type GgufFile } from "./read.js";
import { parameterCount } from "./summary.js";
import { GgufValueType } from "./types.js";
import { isArrayKv, kv, pickArray, withValue, type GgufKv } from "./value.js";
import { assertNotSameFile, writeGguf, type GgufHeaderSpec, type GgufTensorSpec, type TensorSource, type WriteProgress } from "./write.js";

/** Refused removal: every problem found, and the nearest valid sets when the index pattern broke. */
export class PruneError extends ShortgptError {
  readonly problems: readonly RemovalProblem[];
  readonly suggestions: readonly (readonly number[])[];

  constructor(problems: readonly RemovalProblem[], suggestions: readonly (readonly number[])[], path: string) {
    const [first] = problems;
    const rest = problems.slice(1).map((p) => `\n  also: ${p.message}`).join("");
    super(first!.code, `${path}: ${first!.message}${rest}`);
    this.name = "PruneError";
    this.problems = problems;
    this.suggestions = suggestions;
  }
}

export interface PruneOptions {
  /** Write even when the removal set breaks an architecture rule (problems become warnings). */
  force?: boolean;
  /** More provenance keys (e.g. shortgpt.metric), added or replacing existing ones. */
  metadata?: readonly GgufKv[];
  signal?: AbortSignal;
  onProgress?: (progress: WriteProgress) => void;
}

export interface PrunePlan {
  readonly input: GgufFile;
  readonly rules: LayerRules;
  /** Block indices of the input file that are removed, ascending. */
  readonly removed: readonly number[];
  /** The same blocks as indices of the original, never-pruned model (differs when the input was pruned before). */
  readonly removedOriginal: readonly number[];
  readonly blocksBefore: number;
  readonly blocksAfter: number;
  readonly tensorsRemoved: number;
  readonly spec: GgufHeaderSpec;
  readonly sources: readonly TensorSource[];
  /** Metadata changed besides provenance, in words. */
  readonly changes: readonly string[];
  /** Rule violations overridden by `force`. */
  readonly warnings: readonly string[];
}

export interface PruneResult {
  readonly input: string;
  readonly output: string;
  /** Removed block indices of the input, ascending. */
  readonly removed: number[];
  readonly blocksBefore: number;
  readonly blocksAfter: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** Weights (tensor elements) of the input and of the written file. */
  readonly parametersBefore: number;
  readonly parametersAfter: number;
  readonly seconds: number;
  readonly changes: readonly string[];
  readonly warnings: readonly string[];
}

const BLOCK_TENSOR = /^blk\.(\d+)\.(.+)$/;
export const REMOVED_LAYERS_KEY = "shortgpt.removed_layers";
export const VERSION_KEY = "shortgpt.version";

/** Works out the new header and where each kept tensor comes from; writes nothing. */
export function planPrune(file: GgufFile, layers: readonly number[], options: Pick<PruneOptions, "force" | "metadata"> = {}): PrunePlan {
  const rules = layerRules(file);
  const check = checkRemoval(rules, layers);
  const fatal = check.problems.filter((p) => !options.force || p.code === "ERR_PRUNE_LAYER_RANGE" || p.code === "ERR_PRUNE_EMPTY" || p.code === "ERR_PRUNE_ALL" || p.code === "ERR_PRUNE_MTP");
  if (fatal.length > 0) throw new PruneError(options.force ? fatal : check.problems, check.suggestions, file.path);
  const warnings = check.problems.map((p) => p.message);

  const removed = check.removed;
  const removedSet = new Set(removed);
  const newIndex = new Map<number, number>();
  for (let i = 0, next = 0; i < rules.blockCount; i++) if (!removedSet.has(i)) newIndex.set(i, next++);
  const blocksAfter = rules.blockCount - removed.length;

  const tensors: GgufTensorSpec[] = [];
  const sources: TensorSource[] = [];
  let tensorsRemoved = 0;
  const blocksWithTensors = new Set<number>();
  for (const t of file.tensors) {
    const m = BLOCK_TENSOR.exec(t.name);
    if (m) {
      const index = Number(m[1]);
      if (index >= rules.blockCount) {
        throw new ShortgptError("ERR_GGUF_TENSOR_NAME", `${file.path}: tensor '${t.name}' belongs to block ${index}, but ${rules.architecture}.block_count is ${rules.blockCount}`);
      }
      blocksWithTensors.add(index);
      if (removedSet.has(index)) {
        tensorsRemoved++;
        continue;
      }
      tensors.push({ name: `blk.${newIndex.get(index)}.${m[2]}`, dims: t.dims, type: t.type });
    } else {
      tensors.push({ name: t.name, dims: t.dims, type: t.type });
    }
    sources.push({ path: file.path, offset: t.offset });
  }

  // block_count must describe the tensors: a count the tensors do not back
  // would be written on as blocksAfter, a file llama.cpp cannot load.
  if (blocksWithTensors.size !== rules.blockCount) {
    const missing = [];
    for (let i = 0; i < rules.blockCount && missing.length < 3; i++) if (!blocksWithTensors.has(i)) missing.push(i);
    throw new ShortgptError(
      "ERR_GGUF_BLOCK_COUNT",
      `${file.path}: ${rules.architecture}.block_count is ${rules.blockCount}, but only ${blocksWithTensors.size} blocks have tensors (none for block ${missing.join(", ")}${blocksWithTensors.size + missing.length < rules.blockCount ? ", ..." : ""}): the file is inconsistent; llama.cpp would not load it either`,
    );
  }

  const changes: string[] = [];
  const keep = [...newIndex.keys()];
  const arch = rules.architecture;
  const perLayer = new Set(rules.perLayerKeys);
  let metadata: GgufKv[] = file.kv.map((entry) => {
    if (entry.key === `${arch}.block_count`) {
      changes.push(`${entry.key}: ${rules.blockCount} -> ${blocksAfter}`);
      // llama.cpp's get_key is strict about types: always a u32.
      return kv.u32(entry.key, blocksAfter);
    }
    if (perLayer.has(entry.key) && isArrayKv(entry)) {
      changes.push(`${entry.key}: sliced to ${blocksAfter} entries`);
      return withValue(entry, pickArray(entry.value, keep));
    }
    if (entry.key === `${arch}.leading_dense_block_count` && rules.leadingDenseBlocks !== undefined) {
      const lead = rules.leadingDenseBlocks - removed.filter((i) => i < rules.leadingDenseBlocks!).length;
      if (lead !== rules.leadingDenseBlocks) {
        changes.push(`${entry.key}: ${rules.leadingDenseBlocks} -> ${lead}`);
        return withValue(entry, entry.type === GgufValueType.UINT64 || entry.type === GgufValueType.INT64 ? BigInt(lead) : lead);
      }
    }
    return entry;
  });

  const removedOriginal = originalIndices(file, removed, rules.blockCount);
  metadata = upsert(metadata, [
    kv.u32Array(REMOVED_LAYERS_KEY, removedOriginal),
    kv.string(VERSION_KEY, VERSION),
    ...(options.metadata ?? []),
  ]);

  return {
    input: file,
    rules,
    removed,
    removedOriginal,
    blocksBefore: rules.blockCount,
    blocksAfter,
    tensorsRemoved,
    spec: { version: file.version, kv: metadata, tensors },
    sources,
    changes,
    warnings,
  };
}

/**
 * Maps block indices of a file that shortgpt pruned before back to the
 * original model's indices, merged with the earlier removals.
 */
function originalIndices(file: GgufFile, removed: readonly number[], blockCount: number): number[] {
  const previous = file.get(REMOVED_LAYERS_KEY);
  if (!previous || !isArrayKv(previous) || previous.itemType !== GgufValueType.UINT32) return [...removed];
  const before = new Set(Array.from(previous.value as Uint32Array));
  const originalCount = blockCount + before.size;
  const surviving: number[] = [];
  for (let i = 0; i < originalCount; i++) if (!before.has(i)) surviving.push(i);
  const now = removed.map((i) => surviving[i]!);
  return [...new Set([...before, ...now])].sort((x, y) => x - y);
}

function upsert(entries: GgufKv[], updates: readonly GgufKv[]): GgufKv[] {
  const out = [...entries];
  for (const u of updates) {
    const at = out.findIndex((e) => e.key === u.key);
    if (at >= 0) out[at] = u;
    else out.push(u);
  }
  return out;
}

/**
 * Removes `layers` (0-based block indices of `inputPath`) and writes the
 * result to `outputPath`. The input is never modified; on any error or abort
 * nothing is left at the output path.
 */
export async function pruneLayers(
  inputPath: string,
  outputPath: string,
  layers: readonly number[],
  options: PruneOptions = {},
): Promise<PruneResult> {
  const started = performance.now();
  checkCallOptions("pruneLayers", options);
  assertNotSameFile(inputPath, outputPath);
  const file = readGguf(inputPath);
  const plan = planPrune(file, layers, options);
  const layout = await writeGguf(outputPath, plan.spec, plan.sources, {
    sourceFiles: [file],
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  return {
    input: inputPath,
    output: outputPath,
    removed: [...plan.removed],
    blocksBefore: plan.blocksBefore,
    blocksAfter: plan.blocksAfter,
    bytesBefore: file.fileSize,
    bytesAfter: layout.fileSize,
    parametersBefore: parameterCount(file.tensors),
    parametersAfter: parameterCount(plan.spec.tensors),
    seconds: (performance.now() - started) / 1000,
    changes: plan.changes,
    warnings: plan.warnings,
  };
}
