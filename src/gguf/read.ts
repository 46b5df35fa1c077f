/**
 * The GGUF reader: header, metadata and tensor table, never tensor data.
 *
 * It applies every check llama.cpp's gguf reader applies (so a file we accept
 * is one llama.cpp accepts) plus a few limits of our own, each named below
 * with its reason. Every failure is a GgufError with a code and the byte
 * offset where it was found.
 */
import { closeSync, fstatSync, readSync, statSync } from "node:fs";

import { GgufError, ShortgptError } from "../errors.js";
import { inputError } from "../files/file-errors.js";
import { openRegularFile } from "../files/input.js";
import { GGML_TYPE_COUNT, GGUF_SCALAR_BYTES, GgufValueType, ggmlType, ggufValueTypeName } from "./types.js";
import { GgufStringArray, type GgufArray, type GgufKv, type GgufNumericArray, type GgufScalar } from "./value.js";

export interface GgufTensorInfo {
  readonly name: string;
  /** ne[0..n_dims), as stored; ne[0] is the contiguous (row) dimension. */
  readonly dims: readonly number[];
  /** ggml type id. */
  readonly type: number;
  /** Offset as stored in the file: relative to the start of the data section. */
  readonly relativeOffset: number;
  /** Absolute offset of the first byte in the file. */
  readonly offset: number;
  /** Byte size (type x dims, without alignment padding). */
  readonly size: number;
}

/**
 * The file as it was when its header was read. Tensor bytes are read later
 * (by the engine, by the rewrite): a file rewritten or truncated meanwhile
 * differs in one of these, and is refused instead of mixing two files.
 */
export interface FileIdentity {
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly dev: bigint;
  readonly ino: bigint;
}

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly fileSize: number;
  /** Size, modification time and inode when read (absent for files not read from disk). */
  readonly identity?: FileIdentity;
  /** Metadata in file order. */
  readonly kv: readonly GgufKv[];
  /** Tensor infos in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** general.alignment, or 32 when absent. */
  readonly alignment: number;
  /** Byte offset where the header (magic .. last tensor info) ends. */
  readonly headerSize: number;
  /** Absolute offset of the data section (headerSize padded to alignment when there are tensors). */
  readonly dataOffset: number;
  /** Looks a key up (undefined when absent). */
  get(key: string): GgufKv | undefined;
}

/** GGUF_DEFAULT_ALIGNMENT. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Limits. The first group mirrors llama.cpp's gguf.cpp; the second is ours. */
export const GGUF_LIMITS = {
  /** GGUF_MAX_STRING_LENGTH in gguf.cpp. */
  maxStringBytes: 1024 * 1024 * 1024,
  /** gguf.cpp refuses arrays of more than 1Gi elements. */
  maxArrayElements: 1024 * 1024 * 1024,
  /** GGML_MAX_NAME is 64 including the NUL: names are at most 63 bytes. */
  maxTensorNameBytes: 63,
  /** GGML_MAX_DIMS. */
  maxDims: 4,
  /**
   * Ours: keys longer than this are refused. No real key comes close, and it
   * keeps hostile files from making us allocate 1 GiB for a key.
   */
  maxKeyBytes: 64 * 1024,
  /**
   * Ours: offsets and sizes must stay below 2^53 so JS numbers hold them
   * exactly (8 PiB; no model file is that large).
   */
  maxSafeOffset: Number.MAX_SAFE_INTEGER,
  /**
   * Ours: at most 512 x 512 tensors. llama.cpp allows at most 512 blocks
   * (LLAMA_MAX_LAYERS) and no architecture has more than a few hundred tensors
   * per block (128 unmerged experts x 3 is the largest seen), while every
   * tensor info costs a few hundred bytes of JS heap: 7 million (a 300 MB
   * header) took 3 GB. This keeps a hostile header under ~100 MB.
   */
  maxTensors: 512 * 512,
  /**
   * Ours: metadata entries. Real files have tens (per-block values are
   * arrays, not keys); a header of millions of tiny entries only costs memory.
   */
  maxKv: 65536,
  /** LLAMA_MAX_LAYERS: llama.cpp asserts 1 <= {arch}.block_count <= 512. */
  maxBlocks: 512,
} as const;

/** Smallest possible encodings, used to bound counts by the bytes left in the file. */
const MIN_KV_BYTES = 8 + 1 + 4 + 1; // key length, 1-byte key, type, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 4 + 8; // name length, 1-byte name, n_dims, type, offset

/**
 * Reads only the header of a GGUF file (metadata and tensor table). The path
 * must be a regular file (ERR_FILE_NOT_REGULAR for a FIFO, device or folder;
 * ERR_FILE_NOT_FOUND, ERR_FILE_PERMISSION, ERR_FILE_OPEN otherwise).
 */
export function readGguf(path: string): GgufFile {
  const fd = openRegularFile(path, "model");
  try {
    return parseHeader(new FileCursor(fd, path));
  } catch (error) {
    throw inputError(error, path, "model");
  } finally {
    closeSync(fd);
  }
}

function identityOf(st: { size: bigint; mtimeNs: bigint; dev: bigint; ino: bigint }): FileIdentity {
  return { size: Number(st.size), mtimeNs: st.mtimeNs, dev: st.dev, ino: st.ino };
}

/**
 * Throws ERR_FILE_CHANGED when the file at `file.path` is no longer the one
 * whose header was read (other size, modification time or inode): its tensor
 * bytes would not match the tensor table.
 */
export function assertUnchanged(file: Pick<GgufFile, "path" | "identity">): void {
  const before = file.identity;
  if (!before) return;
  let now: FileIdentity;
  try {
    now = identityOf(statSync(file.path, { bigint: true }));
  } catch (error) {
    throw new ShortgptError("ERR_FILE_CHANGED", `${file.path} changed while in use: it can no longer be read (${(error as Error).message})`, { cause: error });
  }
  const what =
    now.dev !== before.dev || now.ino !== before.ino
      ? "it was replaced by another file"
      : now.size !== before.size
        ? `its size went from ${before.size} to ${now.size} bytes`
        : now.mtimeNs !== before.mtimeNs
          ? "it was modified"
          : undefined;
  if (what) throw new ShortgptError("ERR_FILE_CHANGED", `${file.path} changed while in use: ${what}`);
}

/**
 * Buffered sequential reads from a file descriptor through one reused 1 MiB
 * window: a header is read in a few system calls, memory stays flat however
 * large the vocabulary, and at most one window beyond the header is touched.
 */
class FileCursor {
  readonly fileSize: number;
  pos = 0;
  private buf = Buffer.allocUnsafe(1024 * 1024);
  /** File offset of buf[0]. */
  private bufStart = 0;
  /** Valid bytes in buf. */
  private bufLen = 0;

  readonly identity: FileIdentity;

  constructor(
    private readonly fd: number,
    readonly path: string,
  ) {
    this.identity = identityOf(fstatSync(fd, { bigint: true }));
    this.fileSize = this.identity.size;
  }

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  fail(code: string, message: string, offset = this.pos): never {
    throw new GgufError(code, message, { path: this.path, offset });
  }

  private readFully(into: Uint8Array, offset: number, length: number, position: number, what: string): void {
    let filled = 0;
    while (filled < length) {
      const got = readSync(this.fd, into, offset + filled, length - filled, position + filled);
      if (got === 0) this.fail("ERR_GGUF_TRUNCATED", `file ends while reading ${what}`);
      filled += got;
    }
  }

  /** Makes [pos, pos + n) available in the buffer; returns its start index in buf. */
  private need(n: number, what: string): number {
    if (n > this.remaining) {
      this.fail("ERR_GGUF_TRUNCATED", `file ends while reading ${what}: need ${n} bytes, ${this.remaining} left`);
    }
    const start = this.pos - this.bufStart;
    if (start >= 0 && start + n <= this.bufLen) return start;
    // Keep the unread tail, then refill the window after it.
    const keep = start >= 0 && start < this.bufLen ? this.bufLen - start : 0;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(n);
      if (keep > 0) this.buf.copy(bigger, 0, start, this.bufLen);
      this.buf = bigger;
    } else if (keep > 0) {
      this.buf.copyWithin(0, start, this.bufLen);
    }
    const fill = Math.min(this.buf.length, this.fileSize - this.pos) - keep;
    this.readFully(this.buf, keep, fill, this.pos + keep, what);
    this.bufStart = this.pos;
    this.bufLen = keep + fill;
    return 0;
  }

  u8(what: string): number {
    const at = this.need(1, what);
    this.pos += 1;
    return this.buf[at]!;
  }
  u32(what: string): number {
    const at = this.need(4, what);
    this.pos += 4;
    return this.buf.readUInt32LE(at);
  }
  i32(what: string): number {
    const at = this.need(4, what);
    this.pos += 4;
    return this.buf.readInt32LE(at);
  }
  u64(what: string): bigint {
    const at = this.need(8, what);
    this.pos += 8;
    return this.buf.readBigUInt64LE(at);
  }
  i64(what: string): bigint {
    const at = this.need(8, what);
    this.pos += 8;
    return this.buf.readBigInt64LE(at);
  }

  /** A copy of the next n bytes (large reads go straight from the file, not through the window). */
  bytes(n: number, what: string): Uint8Array {
    if (n <= this.buf.length >> 2) {
      const at = this.need(n, what);
      this.pos += n;
      return Uint8Array.prototype.slice.call(this.buf, at, at + n);
    }
    if (n > this.remaining) {
      this.fail("ERR_GGUF_TRUNCATED", `file ends while reading ${what}: need ${n} bytes, ${this.remaining} left`);
    }
    const out = new Uint8Array(n);
    this.readFully(out, 0, n, this.pos, what);
    this.pos += n;
    return out;
  }

  scalar(type: GgufValueType, what: string): number | bigint | boolean {
    const at = this.need(GGUF_SCALAR_BYTES[type]!, what);
    const b = this.buf;
    this.pos += GGUF_SCALAR_BYTES[type]!;
    switch (type) {
      case GgufValueType.UINT8: return b.readUInt8(at);
      case GgufValueType.INT8: return b.readInt8(at);
      case GgufValueType.UINT16: return b.readUInt16LE(at);
      case GgufValueType.INT16: return b.readInt16LE(at);
      case GgufValueType.UINT32: return b.readUInt32LE(at);
      case GgufValueType.INT32: return b.readInt32LE(at);
      case GgufValueType.FLOAT32: return b.readFloatLE(at);
      // gguf.cpp treats any nonzero byte as true.
      case GgufValueType.BOOL: return b.readUInt8(at) !== 0;
      case GgufValueType.UINT64: return b.readBigUInt64LE(at);
      case GgufValueType.INT64: return b.readBigInt64LE(at);
      case GgufValueType.FLOAT64: return b.readDoubleLE(at);
      default: return this.fail("ERR_GGUF_VALUE_TYPE", `${what}: ${ggufValueTypeName(type)} is not a scalar type`);
    }
  }

  /** A GGUF string's length prefix, checked against the limits. */
  stringLength(what: string, maxBytes: number = GGUF_LIMITS.maxStringBytes): number {
    const start = this.pos;
    const at = this.need(8, `${what} length`);
    // Vocabularies hold 10^5 strings: read the u64 as two u32 halves, no BigInt.
    if (this.buf.readUInt32LE(at + 4) === 0) {
      const len = this.buf.readUInt32LE(at);
      if (len <= maxBytes && len <= this.remaining - 8) {
        this.pos += 8;
        return len;
      }
    }
    const len = this.u64(`${what} length`);
    if (len > BigInt(maxBytes)) {
      this.fail("ERR_GGUF_STRING_LENGTH", `${what}: length ${len} exceeds the limit of ${maxBytes} bytes`, start);
    }
    if (len > BigInt(this.remaining)) {
      this.fail("ERR_GGUF_STRING_LENGTH", `${what}: length ${len} exceeds the ${this.remaining} bytes left in the file`, start);
    }
    return Number(len);
  }

  string(what: string, maxBytes?: number): { text: string; raw?: Uint8Array } {
    const len = this.stringLength(what, maxBytes);
    const at = this.need(len, what);
    this.pos += len;
    const view = this.buf.subarray(at, at + len);
    const text = view.toString("utf8");
    // GGUF does not require valid UTF-8; keep the bytes when decoding lost them.
    if (Buffer.byteLength(text, "utf8") !== len || !Buffer.from(text, "utf8").equals(view)) {
      return { text, raw: Uint8Array.prototype.slice.call(view) };
    }
    return { text };
  }

  stringArray(count: number, what: string): GgufStringArray {
    const offsets = new Float64Array(count + 1);
    // Grown by doubling: the total size is only known at the end.
    let bytes = new Uint8Array(Math.min(Math.max(count * 8, 64), this.remaining));
    let total = 0;
    const maxBytes = GGUF_LIMITS.maxStringBytes;
    for (let i = 0; i < count; i++) {
      let at = this.pos - this.bufStart;
      let len: number;
      // Fast path, taken for nearly every token: prefix and bytes already in the window, length
      // below 2^32 and the limit. The window never extends past the file, so the bytes exist.
      if (at + 8 <= this.bufLen && this.buf.readUInt32LE(at + 4) === 0 && (len = this.buf.readUInt32LE(at)) <= maxBytes && at + 8 + len <= this.bufLen) {
        at += 8;
        this.pos += 8 + len;
      } else {
        // The checked path names the element in its errors (built only here: 10^5 labels cost more than the parse).
        const label = `${what}[${i}]`;
        len = this.stringLength(label);
        at = this.need(len, label);
        this.pos += len;
      }
      if (total + len > bytes.length) {
        const grown = new Uint8Array(Math.max(bytes.length * 2, total + len));
        grown.set(bytes.subarray(0, total));
        bytes = grown;
      }
      // Tokens are short: a plain loop avoids allocating a view per string.
      if (len <= 64) for (let k = 0; k < len; k++) bytes[total + k] = this.buf[at + k]!;
      else this.buf.copy(bytes, total, at, at + len);
      offsets[i] = total;
      total += len;
    }
    offsets[count] = total;
    // A view, not a copy: the slack (less than half) is cheaper than a second buffer.
    return new GgufStringArray(bytes.subarray(0, total), offsets);
  }
}

function parseHeader(c: FileCursor): GgufFile {
  const magic = c.bytes(4, "magic");
  if (magic[0] !== 0x47 || magic[1] !== 0x47 || magic[2] !== 0x55 || magic[3] !== 0x46) {
    c.fail("ERR_GGUF_MAGIC", `not a GGUF file: magic is ${JSON.stringify(Buffer.from(magic).toString("latin1"))}, expected "GGUF"`, 0);
  }
  const version = c.u32("version");
  if (version === 0) c.fail("ERR_GGUF_VERSION", "version 0 is invalid", 4);
  if ((version & 0xffff) === 0) {
    c.fail("ERR_GGUF_ENDIAN", `version field ${version} looks byte-swapped: the file was written on a host of the other endianness`, 4);
  }
  if (version === 1) c.fail("ERR_GGUF_VERSION", "GGUF v1 is no longer supported (llama.cpp refuses it too); convert the model again", 4);
  if (version > 3) c.fail("ERR_GGUF_VERSION", `GGUF version ${version} is newer than the supported versions 2 and 3`, 4);

  const tensorCountAt = c.pos;
  const nTensors = c.i64("tensor count");
  const kvCountAt = c.pos;
  const nKv = c.i64("metadata count");
  if (nTensors < 0n || nTensors > BigInt(Math.floor(c.remaining / MIN_TENSOR_INFO_BYTES))) {
    c.fail("ERR_GGUF_COUNT", `tensor count ${nTensors} is impossible for a file of ${c.fileSize} bytes`, tensorCountAt);
  }
  if (nTensors > BigInt(GGUF_LIMITS.maxTensors)) {
    c.fail("ERR_GGUF_LIMIT", `tensor count ${nTensors} is beyond the ${GGUF_LIMITS.maxTensors} tensors shortgpt reads (512 blocks of 512)`, tensorCountAt);
  }
  if (nKv < 0n || nKv > BigInt(Math.floor(c.remaining / MIN_KV_BYTES))) {
    c.fail("ERR_GGUF_COUNT", `metadata count ${nKv} is impossible for a file of ${c.fileSize} bytes`, kvCountAt);
  }
  if (nKv > BigInt(GGUF_LIMITS.maxKv)) {
    c.fail("ERR_GGUF_LIMIT", `metadata count ${nKv} is beyond the ${GGUF_LIMITS.maxKv} entries shortgpt reads`, kvCountAt);
  }

  const kv: GgufKv[] = [];
  const byKey = new Map<string, GgufKv>();
  for (let i = 0; i < Number(nKv); i++) {
    const entryAt = c.pos;
    const key = c.string(`metadata key #${i}`, GGUF_LIMITS.maxKeyBytes).text;
    if (key.length === 0) c.fail("ERR_GGUF_KEY", `metadata key #${i} is empty`, entryAt);
    if (byKey.has(key)) c.fail("ERR_GGUF_DUPLICATE_KEY", `metadata key '${key}' appears twice`, entryAt);
    const entry = readKv(c, key);
    kv.push(entry);
    byKey.set(key, entry);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignKv = byKey.get("general.alignment");
  if (alignKv) {
    // gguf.cpp asserts the type (a hard abort there); we refuse the file instead.
    if (alignKv.type !== GgufValueType.UINT32) {
      c.fail("ERR_GGUF_ALIGNMENT", `general.alignment must be a UINT32, found ${ggufValueTypeName(alignKv.type)}`);
    }
    alignment = alignKv.value as number;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      c.fail("ERR_GGUF_ALIGNMENT", `general.alignment ${alignment} is not a nonzero power of two`);
    }
  }

  const infos: { name: string; dims: number[]; type: number; relativeOffset: number; size: number; at: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(nTensors); i++) {
    const at = c.pos;
    const name = c.string(`tensor #${i} name`, GGUF_LIMITS.maxStringBytes).text;
    if (Buffer.byteLength(name) > GGUF_LIMITS.maxTensorNameBytes) {
      c.fail("ERR_GGUF_TENSOR_NAME", `tensor name '${name.slice(0, 80)}' is longer than ${GGUF_LIMITS.maxTensorNameBytes} bytes (GGML_MAX_NAME)`, at);
    }
    if (names.has(name)) c.fail("ERR_GGUF_DUPLICATE_TENSOR", `tensor '${name}' appears twice`, at);
    names.add(name);
    const nDims = c.u32(`tensor '${name}' n_dims`);
    if (nDims > GGUF_LIMITS.maxDims) {
      c.fail("ERR_GGUF_TENSOR_DIMS", `tensor '${name}' has ${nDims} dimensions; at most ${GGUF_LIMITS.maxDims} are allowed`, at);
    }
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const ne = c.i64(`tensor '${name}' ne[${d}]`);
      if (ne < 0n) c.fail("ERR_GGUF_TENSOR_DIMS", `tensor '${name}' ne[${d}] = ${ne} is negative`, at);
      elements *= ne;
      if (elements > 0x7fffffffffffffffn) c.fail("ERR_GGUF_TENSOR_DIMS", `tensor '${name}' element count overflows int64`, at);
      dims.push(Number(ne));
    }
    const typeAt = c.pos;
    const type = c.i32(`tensor '${name}' type`);
    const info = ggmlType(type);
    if (type < 0 || type >= GGML_TYPE_COUNT || !info) {
      c.fail("ERR_GGUF_TENSOR_TYPE", `tensor '${name}' has unknown or removed ggml type id ${type}`, typeAt);
    }
    const ne0 = dims.length > 0 ? BigInt(dims[0]!) : 1n;
    if (ne0 % BigInt(info.blockElems) !== 0n) {
      c.fail("ERR_GGUF_TENSOR_DIMS", `tensor '${name}' ne[0] = ${ne0} is not a multiple of ${info.name}'s block size ${info.blockElems}`, at);
    }
    const size = (elements / BigInt(info.blockElems)) * BigInt(info.blockBytes);
    if (size > BigInt(GGUF_LIMITS.maxSafeOffset)) {
      c.fail("ERR_GGUF_LIMIT", `tensor '${name}' is ${size} bytes, beyond what shortgpt addresses (2^53)`, at);
    }
    const offsetAt = c.pos;
    const relativeOffset = c.u64(`tensor '${name}' offset`);
    if (relativeOffset > BigInt(GGUF_LIMITS.maxSafeOffset)) {
      c.fail("ERR_GGUF_TENSOR_OFFSET", `tensor '${name}' offset ${relativeOffset} is beyond 2^53`, offsetAt);
    }
    infos.push({ name, dims, type, relativeOffset: Number(relativeOffset), size: Number(size), at: offsetAt });
  }

  const headerSize = c.pos;
  const dataOffset = infos.length > 0 ? alignUp(headerSize, alignment) : headerSize;
  const tensors: GgufTensorInfo[] = [];
  let expected = 0;
  for (const t of infos) {
    // gguf.cpp: each offset must equal the running sum of the padded sizes, in order.
    if (t.relativeOffset !== expected) {
      c.fail("ERR_GGUF_TENSOR_OFFSET", `tensor '${t.name}' offset ${t.relativeOffset} should be ${expected}: tensors must be contiguous, in order, aligned to ${alignment}`, t.at);
    }
    const offset = dataOffset + t.relativeOffset;
    if (offset + t.size > c.fileSize) {
      c.fail("ERR_GGUF_TRUNCATED", `tensor '${t.name}' data [${offset}, ${offset + t.size}) lies beyond the end of the file (${c.fileSize} bytes)`, t.at);
    }
    tensors.push({ name: t.name, dims: t.dims, type: t.type, relativeOffset: t.relativeOffset, offset, size: t.size });
    expected = alignUp(t.relativeOffset + t.size, alignment);
  }

  return {
    path: c.path,
    version,
    fileSize: c.fileSize,
    identity: c.identity,
    kv,
    tensors,
    alignment,
    headerSize,
    dataOffset,
    get: (key: string) => byKey.get(key),
  };
}

function readKv(c: FileCursor, key: string): GgufKv {
  const typeAt = c.pos;
  const type = c.i32(`type of '${key}'`);
  if (type < 0 || type > GgufValueType.FLOAT64) {
    c.fail("ERR_GGUF_VALUE_TYPE", `metadata '${key}' has unknown value type ${type}`, typeAt);
  }
  if (type === GgufValueType.STRING) {
    const { text, raw } = c.string(`value of '${key}'`);
    return raw ? { key, type, value: text, rawString: raw } : { key, type, value: text };
  }
  if (type !== GgufValueType.ARRAY) {
    return { key, type, value: c.scalar(type, `value of '${key}'`) as GgufScalar };
  }
  const itemTypeAt = c.pos;
  const itemType = c.i32(`element type of '${key}'`);
  if (itemType === GgufValueType.ARRAY) {
    c.fail("ERR_GGUF_VALUE_TYPE", `metadata '${key}' is an array of arrays, which llama.cpp does not read`, itemTypeAt);
  }
  if (itemType < 0 || itemType > GgufValueType.FLOAT64) {
    c.fail("ERR_GGUF_VALUE_TYPE", `metadata '${key}' has unknown array element type ${itemType}`, itemTypeAt);
  }
  const countAt = c.pos;
  const count = c.u64(`length of '${key}'`);
  const elemBytes = itemType === GgufValueType.STRING ? 8 : GGUF_SCALAR_BYTES[itemType]!;
  if (count > BigInt(GGUF_LIMITS.maxArrayElements) || count * BigInt(elemBytes) > BigInt(c.remaining)) {
    c.fail("ERR_GGUF_ARRAY_LENGTH", `metadata '${key}' claims ${count} elements, more than the file can hold`, countAt);
  }
  const n = Number(count);
  const value: GgufArray =
    itemType === GgufValueType.STRING ? c.stringArray(n, key) : numericArray(itemType, c.bytes(n * elemBytes, `value of '${key}'`));
  return { key, type, itemType, value };
}

/** Typed array over a private copy of little-endian bytes (the host order on every supported platform). */
function numericArray(itemType: GgufValueType, bytes: Uint8Array): GgufNumericArray {
  const b = bytes.buffer as ArrayBuffer;
  switch (itemType) {
    case GgufValueType.UINT8:
    case GgufValueType.BOOL:
      return new Uint8Array(b, bytes.byteOffset, bytes.length);
    case GgufValueType.INT8: return new Int8Array(b, bytes.byteOffset, bytes.length);
    case GgufValueType.UINT16: return new Uint16Array(b, bytes.byteOffset, bytes.length / 2);
    case GgufValueType.INT16: return new Int16Array(b, bytes.byteOffset, bytes.length / 2);
    case GgufValueType.UINT32: return new Uint32Array(b, bytes.byteOffset, bytes.length / 4);
    case GgufValueType.INT32: return new Int32Array(b, bytes.byteOffset, bytes.length / 4);
    case GgufValueType.FLOAT32: return new Float32Array(b, bytes.byteOffset, bytes.length / 4);
    case GgufValueType.UINT64: return new BigUint64Array(b, bytes.byteOffset, bytes.length / 8);
    case GgufValueType.INT64: return new BigInt64Array(b, bytes.byteOffset, bytes.length / 8);
    case GgufValueType.FLOAT64: return new Float64Array(b, bytes.byteOffset, bytes.length / 8);
    default: throw new Error(`unreachable: numeric array of ${ggufValueTypeName(itemType)}`);
  }
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
