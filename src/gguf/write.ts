/**
 * The GGUF writer: header, metadata and tensor infos serialized exactly as
 * llama.cpp's gguf_write_out does, tensor data streamed from source files by
 * the native range copier (large sequential copies, no whole-file buffering),
 * each tensor aligned and the offsets contiguous in tensor-info order.
 *
 * Output is atomic (src/files/output.ts): the destination is checked first
 * (a regular file or nothing), everything goes to a temporary file beside it,
 * which is fsynced and renamed into place only when complete and only if the
 * source files are still the ones whose headers were read. On any error or
 * abort the temporary file is removed.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";

import { checkCallOptions } from "../call-options.js";
import { addon, cancelTokenFor, normalizeNativeError, throwIfAborted } from "../engine.js";
import { ShortgptError } from "../errors.js";
import { checkOutputPath, cleanStaleTemps, discardTemp, fsyncDirectory, tempPathFor } from "../files/output.js";
import { outputError } from "../files/file-errors.js";
import { GGUF_DEFAULT_ALIGNMENT, alignUp, assertUnchanged, type GgufFile } from "./read.js";
import { GGUF_SCALAR_BYTES, GgufValueType, ggmlType, ggmlTypeName } from "./types.js";
import { GgufStringArray, type GgufKv, type GgufNumericArray } from "./value.js";

export interface GgufTensorSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: number;
}

export interface GgufHeaderSpec {
  readonly version: number;
  readonly kv: readonly GgufKv[];
  readonly tensors: readonly GgufTensorSpec[];
}

export interface GgufLayout {
  /** Serialized header (magic .. last tensor info), without the padding after it. */
  readonly header: Uint8Array;
  readonly alignment: number;
  /** Absolute offset where tensor data starts. */
  readonly dataOffset: number;
  /** Absolute offset of each tensor, in spec order. */
  readonly tensorOffsets: readonly number[];
  /** Byte size of each tensor. */
  readonly tensorSizes: readonly number[];
  /** Total file size. */
  readonly fileSize: number;
}

/** Where a tensor's bytes come from. */
export interface TensorSource {
  readonly path: string;
  /** Absolute offset in `path`. */
  readonly offset: number;
}

export interface WriteProgress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

export interface WriteOptions {
  /** Aborting removes the temp file and rejects with an AbortError whose `cause` is the signal's reason. */
  signal?: AbortSignal;
  /** Called as bytes are copied (never after an abort); if it throws, the write stops and rejects with that error. */
  onProgress?: (progress: WriteProgress) => void;
  /**
   * The files the tensor sources were planned from (as readGguf returned
   * them): each must still be the same file (size, modification time, inode)
   * when the copy starts and before the output is renamed into place, else
   * ERR_FILE_CHANGED and nothing is written.
   */
  sourceFiles?: readonly Pick<GgufFile, "path" | "identity">[];
}

/** The header spec of an existing file (same version, metadata and tensors). */
export function headerSpecOf(file: GgufFile): GgufHeaderSpec {
  return { version: file.version, kv: file.kv, tensors: file.tensors };
}

/** Alignment a spec implies: general.alignment (u32) or the default 32. */
export function specAlignment(kv: readonly GgufKv[]): number {
  const entry = kv.find((e) => e.key === "general.alignment");
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  const value = entry.value;
  if (entry.type !== GgufValueType.UINT32 || typeof value !== "number" || value === 0 || (value & (value - 1)) !== 0) {
    throw new ShortgptError("ERR_GGUF_ALIGNMENT", "general.alignment must be a UINT32 nonzero power of two");
  }
  return value;
}

export function tensorByteSize(t: GgufTensorSpec): number {
  const info = ggmlType(t.type);
  if (!info) throw new ShortgptError("ERR_GGUF_TENSOR_TYPE", `tensor '${t.name}': unknown ggml type ${ggmlTypeName(t.type)}`);
  const elements = t.dims.reduce((a, b) => a * b, 1);
  if ((t.dims[0] ?? 1) % info.blockElems !== 0) {
    throw new ShortgptError("ERR_GGUF_TENSOR_DIMS", `tensor '${t.name}': ne[0] is not a multiple of ${info.name}'s block size`);
  }
  return (elements / info.blockElems) * info.blockBytes;
}

/** Serializes the header and computes where every tensor goes. */
export function layoutGguf(spec: GgufHeaderSpec): GgufLayout {
  const alignment = specAlignment(spec.kv);
  const header = serializeHeader(spec, alignment);
  const dataOffset = spec.tensors.length > 0 ? alignUp(header.length, alignment) : header.length;
  const tensorOffsets: number[] = [];
  const tensorSizes: number[] = [];
  let rel = 0;
  for (const t of spec.tensors) {
    const size = tensorByteSize(t);
    tensorOffsets.push(dataOffset + rel);
    tensorSizes.push(size);
    rel = alignUp(rel + size, alignment);
  }
  return { header, alignment, dataOffset, tensorOffsets, tensorSizes, fileSize: dataOffset + rel };
}

const encoder = new TextEncoder();

function serializeHeader(spec: GgufHeaderSpec, alignment: number): Uint8Array {
  const w = new ByteWriter();
  w.raw(encoder.encode("GGUF"));
  w.u32(spec.version);
  w.u64(BigInt(spec.tensors.length));
  w.u64(BigInt(spec.kv.length));
  for (const entry of spec.kv) {
    w.string(encoder.encode(entry.key));
    w.i32(entry.type);
    writeValue(w, entry);
  }
  let rel = 0;
  for (const t of spec.tensors) {
    w.string(encoder.encode(t.name));
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(BigInt(d));
    w.i32(t.type);
    w.u64(BigInt(rel));
    rel = alignUp(rel + tensorByteSize(t), alignment);
  }
  return w.finish();
}

function writeValue(w: ByteWriter, entry: GgufKv): void {
  const { type, value } = entry;
  if (type === GgufValueType.STRING) {
    w.string(entry.rawString ?? encoder.encode(value as string));
    return;
  }
  if (type !== GgufValueType.ARRAY) {
    w.scalar(type, value as number | bigint | boolean);
    return;
  }
  const itemType = entry.itemType!;
  w.i32(itemType);
  if (itemType === GgufValueType.STRING) {
    w.u64(BigInt((value as GgufStringArray).length));
    w.stringArray(value as GgufStringArray);
    return;
  }
  const array = value as GgufNumericArray;
  const elemBytes = GGUF_SCALAR_BYTES[itemType]!;
  if (array.BYTES_PER_ELEMENT !== elemBytes) {
    throw new ShortgptError("ERR_GGUF_VALUE_TYPE", `metadata '${entry.key}': array storage does not match its element type`);
  }
  w.u64(BigInt(array.length));
  w.raw(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  private len = 0;

  private reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  raw(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }
  // reserve() may replace this.buf, so it must run before this.buf is read.
  u32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeUInt32LE(v, at);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.buf.writeInt32LE(v, at);
  }
  u64(v: bigint): void {
    const at = this.reserve(8);
    this.buf.writeBigUInt64LE(v, at);
  }
  string(bytes: Uint8Array): void {
    this.u64(BigInt(bytes.length));
    this.raw(bytes);
  }
  /** All elements of a string array: one reservation, lengths as two u32 halves. */
  stringArray(strings: GgufStringArray): void {
    let at = this.reserve(strings.length * 8 + strings.offsets[strings.length]! - strings.offsets[0]!);
    const b = this.buf;
    const { bytes, offsets } = strings;
    for (let i = 0; i < strings.length; i++) {
      // Straight from the packed bytes: a view per token costs more than its copy (10^5 tokens).
      const from = offsets[i]!;
      const len = offsets[i + 1]! - from;
      b.writeUInt32LE(len, at);
      b.writeUInt32LE(0, at + 4);
      at += 8;
      if (len <= 64) for (let k = 0; k < len; k++) b[at + k] = bytes[from + k]!;
      else b.set(bytes.subarray(from, from + len), at);
      at += len;
    }
  }
  scalar(type: GgufValueType, v: number | bigint | boolean): void {
    const at = this.reserve(GGUF_SCALAR_BYTES[type]!);
    const b = this.buf;
    switch (type) {
      case GgufValueType.UINT8: b.writeUInt8(v as number, at); break;
      case GgufValueType.INT8: b.writeInt8(v as number, at); break;
      case GgufValueType.UINT16: b.writeUInt16LE(v as number, at); break;
      case GgufValueType.INT16: b.writeInt16LE(v as number, at); break;
      case GgufValueType.UINT32: b.writeUInt32LE(v as number, at); break;
      case GgufValueType.INT32: b.writeInt32LE(v as number, at); break;
      case GgufValueType.FLOAT32: b.writeFloatLE(v as number, at); break;
      case GgufValueType.BOOL: b.writeUInt8(v ? 1 : 0, at); break;
      case GgufValueType.UINT64: b.writeBigUInt64LE(v as bigint, at); break;
      case GgufValueType.INT64: b.writeBigInt64LE(v as bigint, at); break;
      case GgufValueType.FLOAT64: b.writeDoubleLE(v as number, at); break;
      default: throw new ShortgptError("ERR_GGUF_VALUE_TYPE", `cannot write a scalar of value type ${type}`);
    }
  }
  finish(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.len);
  }
}

/**
 * Refuses to write over the input: same path, or the same file through a
 * link. Existing outputs that are other files are replaced atomically.
 */
export function assertNotSameFile(inputPath: string, outputPath: string): void {
  if (resolve(inputPath) === resolve(outputPath)) {
    throw new ShortgptError("ERR_OUTPUT_IS_INPUT", `output ${outputPath} is the input file; choose another path`);
  }
  let a, b;
  try {
    a = statSync(inputPath);
    b = statSync(outputPath);
  } catch {
    return; // output does not exist yet
  }
  if (a.dev === b.dev && a.ino === b.ino) {
    throw new ShortgptError("ERR_OUTPUT_IS_INPUT", `output ${outputPath} is the same file as the input ${inputPath}`);
  }
}

/**
 * Writes a GGUF file: `spec` gives the header, `sources[i]` where tensor i's
 * bytes come from. Returns the layout written.
 */
export async function writeGguf(
  outputPath: string,
  spec: GgufHeaderSpec,
  sources: readonly TensorSource[],
  options: WriteOptions = {},
): Promise<GgufLayout> {
  checkCallOptions("writeGguf", options);
  if (sources.length !== spec.tensors.length) {
    throw new ShortgptError("ERR_INVALID_ARG", `writeGguf: ${spec.tensors.length} tensors but ${sources.length} sources`);
  }
  throwIfAborted(options.signal);
  const layout = layoutGguf(spec);
  checkOutputPath(outputPath);
  const dir = dirname(resolve(outputPath));
  cleanStaleTemps(dir);
  const sourceFiles = options.sourceFiles ?? [];
  const tempPath = tempPathFor(outputPath);
  // Removes the temp file if this thread's environment is torn down mid-write (a terminated
  // worker_thread runs no `finally`); released below once the file is renamed or removed.
  const guard = new (addon().TempFileGuard)(tempPath);
  let fd: number | undefined;
  try {
    for (const f of sourceFiles) assertUnchanged(f);
    fd = openSync(tempPath, "wx", 0o644);
    writeAll(fd, layout.header, 0);
    // Sizing the file first makes every padding byte and every not-yet-copied
    // range read as zero; the range copier relies on that to skip holes.
    ftruncateSync(fd, layout.fileSize);
    const ranges = new Float64Array(sources.length * 3);
    let total = 0;
    sources.forEach((s, i) => {
      ranges[i * 3] = s.offset;
      ranges[i * 3 + 1] = layout.tensorOffsets[i]!;
      ranges[i * 3 + 2] = layout.tensorSizes[i]!;
      total += layout.tensorSizes[i]!;
    });
    const { signal, onProgress } = options;
    const method = process.env.SHORTGPT_COPY_METHOD === "buffered" ? "buffered" : "kernel";
    const { token, dispose } = cancelTokenFor(signal);
    try {
      for (const [path, group] of groupRangesBySource(sources, ranges)) {
        // A throwing onProgress cancels the copy, which rejects with that error.
        await addon().copyRanges(path, tempPath, group.ranges, token, onProgress
          ? (done) => {
              if (!signal?.aborted) onProgress({ bytesDone: group.doneBefore + done, bytesTotal: total });
            }
          : undefined, method);
      }
    } catch (error) {
      throw normalizeNativeError(error, signal);
    } finally {
      dispose();
    }
    throwIfAborted(options.signal);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    // The bytes copied are the planned ones only if no source changed meanwhile,
    // and the destination must still be replaceable.
    for (const f of sourceFiles) assertUnchanged(f);
    checkOutputPath(outputPath);
    renameSync(tempPath, outputPath);
    fsyncDirectory(dir);
    return layout;
  } catch (error) {
    discardTemp(fd, tempPath);
    throw withNothingWritten(outputError(error, outputPath));
  } finally {
    guard.release();
  }
}

/** ERR_FILE_CHANGED from the copier or the checks, told as the caller sees it: the output was not written. */
function withNothingWritten(error: unknown): unknown {
  if (error instanceof Error && (error as { code?: unknown }).code === "ERR_FILE_CHANGED" && !/nothing was written/.test(error.message)) {
    error.message += "; nothing was written";
  }
  return error;
}

/** Groups copy ranges by source file, keeping order, with bytes before each group. */
function groupRangesBySource(
  sources: readonly TensorSource[],
  ranges: Float64Array,
): Map<string, { ranges: Float64Array; doneBefore: number }> {
  const byPath = new Map<string, number[]>();
  sources.forEach((s, i) => {
    let list = byPath.get(s.path);
    if (!list) byPath.set(s.path, (list = []));
    list.push(ranges[i * 3]!, ranges[i * 3 + 1]!, ranges[i * 3 + 2]!);
  });
  const out = new Map<string, { ranges: Float64Array; doneBefore: number }>();
  let before = 0;
  for (const [path, list] of byPath) {
    out.set(path, { ranges: Float64Array.from(list), doneBefore: before });
    for (let i = 2; i < list.length; i += 3) before += list[i]!;
  }
  return out;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  }
}
