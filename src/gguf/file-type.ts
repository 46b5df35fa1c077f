/**
 * `general.file_type`: llama.cpp's llama_ftype, the quantization mix a file
 * was made with, named as llama-quantize names it (Q4_K_M, Q8_0, …). Values
 * from llama.h's enum llama_ftype; the tests compare them with gguf-py's
 * LlamaFileType. 4-6 and 33-35 are gone from llama.cpp (4 still names old files).
 */
import type { GgufFile } from "./read.js";
import { GgufValueType } from "./types.js";

const LLAMA_FTYPE_NAMES: Readonly<Record<number, string>> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  4: "Q4_1_SOME_F16",
  7: "Q8_0",
  8: "Q5_0",
  9: "Q5_1",
  10: "Q2_K",
  11: "Q3_K_S",
  12: "Q3_K_M",
  13: "Q3_K_L",
  14: "Q4_K_S",
  15: "Q4_K_M",
  16: "Q5_K_S",
  17: "Q5_K_M",
  18: "Q6_K",
  19: "IQ2_XXS",
  20: "IQ2_XS",
  21: "Q2_K_S",
  22: "IQ3_XS",
  23: "IQ3_XXS",
  24: "IQ1_S",
  25: "IQ4_NL",
  26: "IQ3_S",
  27: "IQ3_M",
  28: "IQ2_S",
  29: "IQ2_M",
  30: "IQ4_XS",
  31: "IQ1_M",
  32: "BF16",
  36: "TQ1_0",
  37: "TQ2_0",
  38: "MXFP4_MOE",
  39: "NVFP4",
  40: "Q1_0",
};

/** The bit llama.cpp sets when it guessed the file type from the tensors instead of reading it. */
export const LLAMA_FTYPE_GUESSED = 1024;

/** "Q4_K_M" for 15; "Q4_K_M (guessed)" with the guessed bit; "unknown (n)" for a value llama.cpp does not define. */
export function llamaFileTypeName(id: number): string {
  if (id >= 0 && id & LLAMA_FTYPE_GUESSED) return `${llamaFileTypeName(id & ~LLAMA_FTYPE_GUESSED)} (guessed)`;
  return LLAMA_FTYPE_NAMES[id] ?? `unknown (${id})`;
}

export interface FileType {
  /** general.file_type as stored. */
  readonly id: number;
  /** llama-quantize's name for it (Q4_K_M, …). */
  readonly name: string;
}

/** The file's general.file_type, or null when it has none (or not as an integer). */
export function fileTypeOf(file: GgufFile): FileType | null {
  const entry = file.get("general.file_type");
  if (!entry) return null;
  const integer = [GgufValueType.UINT8, GgufValueType.INT8, GgufValueType.UINT16, GgufValueType.INT16, GgufValueType.UINT32, GgufValueType.INT32].includes(entry.type);
  if (!integer || typeof entry.value !== "number") return null;
  return { id: entry.value, name: llamaFileTypeName(entry.value) };
}

/** Every defined id and name, for tests and docs. */
export function llamaFileTypes(): readonly FileType[] {
  return Object.entries(LLAMA_FTYPE_NAMES).map(([id, name]) => ({ id: Number(id), name }));
}
