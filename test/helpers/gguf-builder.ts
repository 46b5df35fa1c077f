/**
 * A deliberately low-level GGUF byte builder for tests: every field is
 * emitted explicitly, so a test can write exactly the malformed file it
 * wants (wrong counts, bad types, misplaced offsets). It shares no code with
 * src/gguf/write.ts, so round-trip tests do not just mirror the writer.
 */

export type RawValue =
  | { t: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "u64" | "i64" | "f64"; v: number | bigint | boolean }
  | { t: "str"; v: string }
  | { t: "arr"; item: number; values: RawValue[] }
  | { t: "raw"; type: number; bytes: Uint8Array };

export interface RawTensor {
  name: string;
  dims: (number | bigint)[];
  type: number;
  offset: number | bigint;
}

export const TYPE_IDS = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 } as const;

export class RawWriter {
  private chunks: Buffer[] = [];
  /** Byte offsets where each top-level field starts (for truncation tests). */
  readonly boundaries: number[] = [];
  private length = 0;

  mark(): this {
    this.boundaries.push(this.length);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.chunks.push(Buffer.from(b));
    this.length += b.length;
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.bytes(b);
  }
  i32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return this.bytes(b);
  }
  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return this.bytes(b);
  }
  i64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(v));
    return this.bytes(b);
  }
  str(s: string | Uint8Array, declaredLength?: number | bigint): this {
    const b = typeof s === "string" ? Buffer.from(s, "utf8") : Buffer.from(s);
    this.u64(declaredLength ?? b.length);
    return this.bytes(b);
  }
  value(v: RawValue): this {
    switch (v.t) {
      case "u8": return this.bytes(Uint8Array.of(Number(v.v)));
      case "i8": return this.bytes(Uint8Array.of(Number(v.v) & 0xff));
      case "bool": return this.bytes(Uint8Array.of(v.v ? 1 : 0));
      case "u16": { const b = Buffer.alloc(2); b.writeUInt16LE(Number(v.v)); return this.bytes(b); }
      case "i16": { const b = Buffer.alloc(2); b.writeInt16LE(Number(v.v)); return this.bytes(b); }
      case "u32": return this.u32(Number(v.v));
      case "i32": return this.i32(Number(v.v));
      case "f32": { const b = Buffer.alloc(4); b.writeFloatLE(Number(v.v)); return this.bytes(b); }
      case "u64": return this.u64(BigInt(v.v as number | bigint));
      case "i64": return this.i64(BigInt(v.v as number | bigint));
      case "f64": { const b = Buffer.alloc(8); b.writeDoubleLE(Number(v.v)); return this.bytes(b); }
      case "str": return this.str(v.v);
      case "arr": {
        this.i32(v.item).u64(v.values.length);
        for (const x of v.values) this.value(x);
        return this;
      }
      case "raw": return this.bytes(v.bytes);
    }
  }
  typeOf(v: RawValue): number {
    return v.t === "raw" ? v.type : TYPE_IDS[v.t];
  }
  get size(): number {
    return this.length;
  }
  finish(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface RawFileSpec {
  magic?: string;
  version?: number;
  /** Overrides of the declared counts (default: the real counts). */
  tensorCount?: number | bigint;
  kvCount?: number | bigint;
  kv: [string, RawValue][];
  tensors: RawTensor[];
  alignment?: number;
  /** Bytes of tensor data after the aligned header (default: exactly what the tensors need). */
  dataBytes?: number;
}

/** Byte size a tensor needs, for the small set of types tests use. */
export function rawTensorBytes(type: number, dims: (number | bigint)[]): number {
  const n = dims.reduce<number>((a, b) => a * Number(b), 1);
  switch (type) {
    case 0: return n * 4; // F32
    case 1: return n * 2; // F16
    case 8: return (n / 32) * 34; // Q8_0
    default: throw new Error(`rawTensorBytes: type ${type} not used by tests`);
  }
}

/** Builds a GGUF file; returns the bytes and the offsets where each field starts. */
export function buildRawGguf(spec: RawFileSpec): { bytes: Buffer; boundaries: number[]; headerSize: number } {
  const w = new RawWriter();
  w.mark().bytes(Buffer.from(spec.magic ?? "GGUF", "latin1"));
  w.mark().u32(spec.version ?? 3);
  w.mark().i64(spec.tensorCount ?? spec.tensors.length);
  w.mark().i64(spec.kvCount ?? spec.kv.length);
  for (const [key, value] of spec.kv) {
    w.mark().str(key);
    w.mark().i32(w.typeOf(value));
    w.mark().value(value);
  }
  for (const t of spec.tensors) {
    w.mark().str(t.name);
    w.mark().u32(t.dims.length);
    for (const d of t.dims) w.mark().i64(d);
    w.mark().i32(t.type);
    w.mark().u64(t.offset);
  }
  const headerSize = w.size;
  const alignment = spec.alignment ?? 32;
  const padded = spec.tensors.length > 0 ? Math.ceil(headerSize / alignment) * alignment : headerSize;
  w.bytes(Buffer.alloc(padded - headerSize));
  let dataBytes = spec.dataBytes;
  if (dataBytes === undefined) {
    dataBytes = 0;
    for (const t of spec.tensors) {
      dataBytes = Math.max(dataBytes, Math.ceil((Number(t.offset) + rawTensorBytes(t.type, t.dims)) / alignment) * alignment);
    }
  }
  // Deterministic non-zero data so copies can be checked.
  const data = Buffer.alloc(dataBytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  w.bytes(data);
  return { bytes: w.finish(), boundaries: w.boundaries, headerSize };
}

/** Contiguous, aligned offsets for tensors in order (what llama.cpp requires). */
export function contiguousOffsets(tensors: Omit<RawTensor, "offset">[], alignment = 32): RawTensor[] {
  let offset = 0;
  return tensors.map((t) => {
    const out = { ...t, offset };
    offset = Math.ceil((offset + rawTensorBytes(t.type, t.dims)) / alignment) * alignment;
    return out;
  });
}

/** A small valid llama-architecture model header with `blocks` blocks of tiny F32 tensors. */
export function tinyLlamaSpec(blocks: number, extraKv: [string, RawValue][] = [], arch = "llama"): RawFileSpec {
  const tensors: Omit<RawTensor, "offset">[] = [{ name: "token_embd.weight", dims: [8, 16], type: 0 }];
  for (let b = 0; b < blocks; b++) {
    tensors.push({ name: `blk.${b}.attn_norm.weight`, dims: [8], type: 0 });
    tensors.push({ name: `blk.${b}.ffn_down.weight`, dims: [32, 8], type: 8 });
  }
  tensors.push({ name: "output_norm.weight", dims: [8], type: 0 });
  return {
    kv: [
      ["general.architecture", { t: "str", v: arch }],
      ["general.name", { t: "str", v: "tiny" }],
      [`${arch}.block_count`, { t: "u32", v: blocks }],
      [`${arch}.embedding_length`, { t: "u32", v: 8 }],
      ...extraKv,
    ],
    tensors: contiguousOffsets(tensors),
  };
}
