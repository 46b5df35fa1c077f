/**
 * GGUF metadata values, kept with their exact GGUF type so a file read and
 * written back is byte-identical (a u32 stays a u32, an i32 array stays one).
 */
import { GgufValueType } from "./types.js";

export type GgufNumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | BigUint64Array
  | BigInt64Array
  | Float64Array;

const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * An array of GGUF strings stored as their raw bytes plus offsets. Tokenizer
 * vocabularies hold 50k-260k strings: one buffer is far cheaper than that many
 * JS strings, keeps bytes exact (GGUF does not require valid UTF-8), and
 * strings are decoded only when asked for.
 */
export class GgufStringArray {
  /** offsets[i]..offsets[i+1] are the bytes of string i. */
  constructor(
    readonly bytes: Uint8Array,
    readonly offsets: Float64Array,
  ) {}

  static from(strings: readonly string[]): GgufStringArray {
    const encoded = strings.map((s) => utf8Encoder.encode(s));
    const offsets = new Float64Array(encoded.length + 1);
    let total = 0;
    encoded.forEach((e, i) => {
      offsets[i] = total;
      total += e.length;
    });
    offsets[encoded.length] = total;
    const bytes = new Uint8Array(total);
    encoded.forEach((e, i) => bytes.set(e, offsets[i]));
    return new GgufStringArray(bytes, offsets);
  }

  get length(): number {
    return this.offsets.length - 1;
  }

  /** Raw bytes of string i (a view, not a copy). */
  bytesAt(i: number): Uint8Array {
    return this.bytes.subarray(this.offsets[i]!, this.offsets[i + 1]!);
  }

  /** String i decoded as UTF-8 (invalid sequences become U+FFFD). */
  get(i: number): string {
    return utf8Decoder.decode(this.bytesAt(i));
  }

  toArray(): string[] {
    const out = new Array<string>(this.length);
    for (let i = 0; i < out.length; i++) out[i] = this.get(i);
    return out;
  }

  /** The strings at the given indices, as a new array. */
  pick(indices: readonly number[]): GgufStringArray {
    const parts = indices.map((i) => this.bytesAt(i));
    const offsets = new Float64Array(parts.length + 1);
    let total = 0;
    parts.forEach((p, i) => {
      offsets[i] = total;
      total += p.length;
    });
    offsets[parts.length] = total;
    const bytes = new Uint8Array(total);
    parts.forEach((p, i) => bytes.set(p, offsets[i]));
    return new GgufStringArray(bytes, offsets);
  }
}

/** A scalar value. Strings are decoded; `GgufKv.rawString` keeps bytes that are not valid UTF-8. */
export type GgufScalar = number | bigint | boolean | string;
/** An array value. BOOL arrays are Uint8Array (one byte per element, as stored). */
export type GgufArray = GgufNumericArray | GgufStringArray;

export interface GgufKv {
  readonly key: string;
  /** The value type; ARRAY for arrays. */
  readonly type: GgufValueType;
  /** Element type of an ARRAY. */
  readonly itemType?: GgufValueType;
  readonly value: GgufScalar | GgufArray;
  /** For a STRING whose bytes are not valid UTF-8: the exact bytes, used when writing. */
  readonly rawString?: Uint8Array;
}

export function isArrayKv(kv: GgufKv): kv is GgufKv & { itemType: GgufValueType; value: GgufArray } {
  return kv.type === GgufValueType.ARRAY;
}

/** Number of elements of an array value. */
export function arrayLength(value: GgufArray): number {
  return value.length;
}

/** Elements [indices] of an array value, same element type. */
export function pickArray(value: GgufArray, indices: readonly number[]): GgufArray {
  if (value instanceof GgufStringArray) return value.pick(indices);
  const Ctor = value.constructor as new (n: number) => GgufNumericArray;
  const out = new Ctor(indices.length);
  indices.forEach((src, dst) => {
    (out as unknown as Record<number, number | bigint>)[dst] = (value as unknown as Record<number, number | bigint>)[src]!;
  });
  return out;
}

// Builders for keys shortgpt writes itself.
export const kv = {
  u32(key: string, value: number): GgufKv {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`${key}: ${value} is not a u32`);
    }
    return { key, type: GgufValueType.UINT32, value };
  },
  i32(key: string, value: number): GgufKv {
    return { key, type: GgufValueType.INT32, value };
  },
  f32(key: string, value: number): GgufKv {
    return { key, type: GgufValueType.FLOAT32, value };
  },
  bool(key: string, value: boolean): GgufKv {
    return { key, type: GgufValueType.BOOL, value };
  },
  string(key: string, value: string): GgufKv {
    return { key, type: GgufValueType.STRING, value };
  },
  u32Array(key: string, values: readonly number[]): GgufKv {
    return { key, type: GgufValueType.ARRAY, itemType: GgufValueType.UINT32, value: Uint32Array.from(values) };
  },
  stringArray(key: string, values: readonly string[]): GgufKv {
    return { key, type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: GgufStringArray.from(values) };
  },
};

/** Same key with a new value of the same shape (keeps type and itemType). */
export function withValue(entry: GgufKv, value: GgufScalar | GgufArray): GgufKv {
  const out: { -readonly [K in keyof GgufKv]: GgufKv[K] } = { ...entry, value };
  delete out.rawString;
  return out;
}
