/**
 * Typed lookups of GGUF metadata with errors that name the key and what was
 * expected. Used by the architecture table, the tokenizer and the CLI.
 */
import { GgufError } from "../errors.js";
import { GGUF_LIMITS, type GgufFile } from "./read.js";
import { GgufValueType, ggufValueTypeName } from "./types.js";
import { GgufStringArray, isArrayKv, type GgufArray } from "./value.js";

const INTEGER_TYPES = new Set([
  GgufValueType.UINT8,
  GgufValueType.INT8,
  GgufValueType.UINT16,
  GgufValueType.INT16,
  GgufValueType.UINT32,
  GgufValueType.INT32,
  GgufValueType.UINT64,
  GgufValueType.INT64,
]);

function wrongType(file: GgufFile, key: string, expected: string, found: GgufValueType): never {
  throw new GgufError("ERR_GGUF_KEY_TYPE", `metadata '${key}' should be ${expected}, found ${ggufValueTypeName(found)}`, {
    path: file.path,
  });
}

function missing(file: GgufFile, key: string, expected: string): never {
  throw new GgufError("ERR_GGUF_MISSING_KEY", `required metadata '${key}' (${expected}) is missing`, { path: file.path });
}

/** An integer key of any integer type, as a JS number. */
export function optionalInteger(file: GgufFile, key: string): number | undefined {
  const entry = file.get(key);
  if (!entry) return undefined;
  if (!INTEGER_TYPES.has(entry.type)) wrongType(file, key, "an integer", entry.type);
  const v = entry.value as number | bigint;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (!Number.isSafeInteger(n)) wrongType(file, key, "an integer below 2^53", entry.type);
  return n;
}

export function requireInteger(file: GgufFile, key: string): number {
  return optionalInteger(file, key) ?? missing(file, key, "an integer");
}

/** A float key (F32 or F64). */
export function optionalFloat(file: GgufFile, key: string): number | undefined {
  const entry = file.get(key);
  if (!entry) return undefined;
  if (entry.type !== GgufValueType.FLOAT32 && entry.type !== GgufValueType.FLOAT64) wrongType(file, key, "a float", entry.type);
  return entry.value as number;
}

export function optionalString(file: GgufFile, key: string): string | undefined {
  const entry = file.get(key);
  if (!entry) return undefined;
  if (entry.type !== GgufValueType.STRING) wrongType(file, key, "a string", entry.type);
  return entry.value as string;
}

export function requireString(file: GgufFile, key: string): string {
  return optionalString(file, key) ?? missing(file, key, "a string");
}

export function optionalBool(file: GgufFile, key: string): boolean | undefined {
  const entry = file.get(key);
  if (!entry) return undefined;
  if (entry.type !== GgufValueType.BOOL) wrongType(file, key, "a bool", entry.type);
  return entry.value as boolean;
}

export function optionalArray(file: GgufFile, key: string): GgufArray | undefined {
  const entry = file.get(key);
  if (!entry) return undefined;
  if (!isArrayKv(entry)) wrongType(file, key, "an array", entry.type);
  return entry.value;
}

export function optionalStringArray(file: GgufFile, key: string): GgufStringArray | undefined {
  const value = optionalArray(file, key);
  if (value === undefined) return undefined;
  if (!(value instanceof GgufStringArray)) wrongType(file, key, "an array of strings", file.get(key)!.itemType!);
  return value;
}

/**
 * A key llama.cpp reads with get_key_or_arr: a scalar, or one value per
 * block. Returns the per-block values (the scalar repeated).
 */
export function perBlockIntegers(file: GgufFile, key: string, blockCount: number): number[] | undefined {
  const entry = file.get(key);
  if (!entry) return undefined;
  if (!isArrayKv(entry)) return new Array<number>(blockCount).fill(optionalInteger(file, key)!);
  const value = entry.value;
  if (value instanceof GgufStringArray || value.length !== blockCount) {
    throw new GgufError("ERR_GGUF_KEY_TYPE", `metadata '${key}' should hold ${blockCount} integers (one per block), found ${value.length}`, {
      path: file.path,
    });
  }
  return Array.from(value as ArrayLike<number | bigint>, Number);
}

/** general.architecture. */
export function architectureOf(file: GgufFile): string {
  return requireString(file, "general.architecture");
}

/**
 * {arch}.block_count, which llama.cpp requires in 1..512 (LLAMA_MAX_LAYERS).
 * Anything else is ERR_GGUF_BLOCK_COUNT: every per-block structure (scores,
 * per-block bytes, the pruned file's count) is sized by it, so a hostile
 * 2^32 - 1 must never reach them.
 */
export function blockCountOf(file: GgufFile, arch: string = architectureOf(file)): number {
  const key = `${arch}.block_count`;
  const n = requireInteger(file, key);
  if (n < 1 || n > GGUF_LIMITS.maxBlocks) {
    throw new GgufError("ERR_GGUF_BLOCK_COUNT", `metadata '${key}' = ${n} is outside 1..${GGUF_LIMITS.maxBlocks} (llama.cpp's LLAMA_MAX_LAYERS)`, {
      path: file.path,
    });
  }
  return n;
}

/** {arch}.context_length, the context the model was trained on; undefined when the file does not say. */
export function contextLengthOf(file: GgufFile): number | undefined {
  return optionalInteger(file, `${architectureOf(file)}.context_length`);
}
