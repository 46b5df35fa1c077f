/**
 * The ggml tensor types a GGUF file can hold (id, name, block geometry) and
 * the GGUF metadata value types. The native addon has the same type table
 * (native/common/ggml_type.cc); a test checks they agree.
 */

export interface GgmlTypeInfo {
  readonly id: number;
  readonly name: string;
  /** Elements per block (1 for plain float/int types). */
  readonly blockElems: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

/** GGML_TYPE_COUNT in ggml.h: ids at or above it are unknown. */
export const GGML_TYPE_COUNT = 43;

// Sizes are sizeof() of the block structs in ggml-common.h. Ids 4, 5, 31-33
// and 36-38 were removed from ggml and have no block size: files using them fail.
const TYPE_LIST: readonly GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockElems: 1, blockBytes: 4 },
  { id: 1, name: "F16", blockElems: 1, blockBytes: 2 },
  { id: 2, name: "Q4_0", blockElems: 32, blockBytes: 18 },
  { id: 3, name: "Q4_1", blockElems: 32, blockBytes: 20 },
  { id: 6, name: "Q5_0", blockElems: 32, blockBytes: 22 },
  { id: 7, name: "Q5_1", blockElems: 32, blockBytes: 24 },
  { id: 8, name: "Q8_0", blockElems: 32, blockBytes: 34 },
  { id: 9, name: "Q8_1", blockElems: 32, blockBytes: 36 },
  { id: 10, name: "Q2_K", blockElems: 256, blockBytes: 84 },
  { id: 11, name: "Q3_K", blockElems: 256, blockBytes: 110 },
  { id: 12, name: "Q4_K", blockElems: 256, blockBytes: 144 },
  { id: 13, name: "Q5_K", blockElems: 256, blockBytes: 176 },
  { id: 14, name: "Q6_K", blockElems: 256, blockBytes: 210 },
  { id: 15, name: "Q8_K", blockElems: 256, blockBytes: 292 },
  { id: 16, name: "IQ2_XXS", blockElems: 256, blockBytes: 66 },
  { id: 17, name: "IQ2_XS", blockElems: 256, blockBytes: 74 },
  { id: 18, name: "IQ3_XXS", blockElems: 256, blockBytes: 98 },
  { id: 19, name: "IQ1_S", blockElems: 256, blockBytes: 50 },
  { id: 20, name: "IQ4_NL", blockElems: 32, blockBytes: 18 },
  { id: 21, name: "IQ3_S", blockElems: 256, blockBytes: 110 },
  { id: 22, name: "IQ2_S", blockElems: 256, blockBytes: 82 },
  { id: 23, name: "IQ4_XS", blockElems: 256, blockBytes: 136 },
  { id: 24, name: "I8", blockElems: 1, blockBytes: 1 },
  { id: 25, name: "I16", blockElems: 1, blockBytes: 2 },
  { id: 26, name: "I32", blockElems: 1, blockBytes: 4 },
  { id: 27, name: "I64", blockElems: 1, blockBytes: 8 },
  { id: 28, name: "F64", blockElems: 1, blockBytes: 8 },
  { id: 29, name: "IQ1_M", blockElems: 256, blockBytes: 56 },
  { id: 30, name: "BF16", blockElems: 1, blockBytes: 2 },
  { id: 34, name: "TQ1_0", blockElems: 256, blockBytes: 54 },
  { id: 35, name: "TQ2_0", blockElems: 256, blockBytes: 66 },
  { id: 39, name: "MXFP4", blockElems: 32, blockBytes: 17 },
  { id: 40, name: "NVFP4", blockElems: 64, blockBytes: 36 },
  { id: 41, name: "Q1_0", blockElems: 128, blockBytes: 18 },
  { id: 42, name: "Q2_0", blockElems: 64, blockBytes: 18 },
];

const BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(TYPE_LIST.map((t) => [t.id, t]));
const BY_NAME: ReadonlyMap<string, GgmlTypeInfo> = new Map(TYPE_LIST.map((t) => [t.name, t]));

/** Every ggml type id that has a block size, in id order. */
export const GGML_TYPES: readonly GgmlTypeInfo[] = TYPE_LIST;

/** The type for an id, or undefined for unknown and removed ids. */
export function ggmlType(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Human name for an id, also for unknown ids ("type 31"). */
export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? `type ${id}`;
}

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Bytes of one scalar of each fixed-size value type. */
export const GGUF_SCALAR_BYTES: Readonly<Record<number, number>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

export function ggufValueTypeName(type: number): string {
  return GgufValueType[type] ?? `type ${type}`;
}
