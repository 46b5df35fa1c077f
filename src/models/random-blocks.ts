/**
 * Random values in ggml's formats: the one place tests, checks and benchmarks make weight
 * blocks and activations from a seed.
 *
 * - `fillRandomBlocks`: weights for models made up on the spot (src/models/random-model.ts):
 *   quants are uniform random bits, and every scale field is set so that the values have mean
 *   ~0 and the standard deviation asked for. Nothing is quantized from floats, so an
 *   8B-parameter file is made at memory speed. Sub-block scales are random (and mins differ from
 *   scales), so a decoder that mixes up scale fields gives different numbers: a CPU-vs-GPU check
 *   on these files exercises every field of the format.
 * - `randomTestBlocks`: blocks for kernel tests: every bit random (sub-block scales and mins
 *   included) but the f16 scales, which get typical sizes or, on request, the extremes a
 *   decoder must survive (zero, subnormal, ±60000).
 * - `gaussianFloats`: activations.
 *
 * Layouts follow ggml's block structs (../shared/docs/llama-cpp-facts.md §2).
 */
import { createCipheriv, type Cipher } from "node:crypto";

import { ShortgptError } from "../errors.js";
import { ggmlType, ggmlTypeByName, ggmlTypeName } from "../gguf/types.js";

/** xorshift128: fast, seedable, good enough for weights that only need to look random. */
export class Rng {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  constructor(seed: number) {
    // splitmix-style scrambling so nearby seeds give unrelated streams.
    let s = (seed >>> 0) ^ 0x9e3779b9;
    const next = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), 1 | s);
      t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
      return (t ^ (t >>> 14)) >>> 0;
    };
    this.x = next() || 1;
    this.y = next();
    this.z = next();
    this.w = next();
  }

  u32(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.w;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /**
   * Fills `bytes` with random bits: the AES-128-CTR keystream of a key drawn from this
   * generator (hardware AES makes that GB/s; deterministic like the rest).
   */
  fill(bytes: Uint8Array): void {
    if (!this.cipher) {
      const key = new Uint8Array(32);
      const words = new Uint32Array(key.buffer);
      for (let i = 0; i < 8; i++) words[i] = this.u32();
      this.cipher = createCipheriv("aes-128-ctr", key.subarray(0, 16), key.subarray(16));
    }
    for (let at = 0; at < bytes.length; at += ZEROS.length) {
      const n = Math.min(ZEROS.length, bytes.length - at);
      bytes.set(this.cipher.update(ZEROS.subarray(0, n)), at);
    }
  }

  private cipher: Cipher | undefined;
}

/** Plaintext for the keystream. */
const ZEROS = new Uint8Array(4 * 1024 * 1024);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits of x, round to nearest even (normal and subnormal range; overflow to inf). */
export function halfBits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** bf16 bits of x, round to nearest even. */
export function bf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Standard deviation of a uniform integer on [0, n). */
const uniformStd = (n: number) => Math.sqrt((n * n - 1) / 12);

/** IQ4_NL / IQ4_XS codebook (ggml's kvalues_iq4nl). */
const IQ4_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const IQ4_RMS = Math.sqrt(IQ4_VALUES.reduce((a, v) => a + v * v, 0) / 16);

/**
 * Q4_K / Q5_K 6-bit scale and min pairs (8 each) packed into 12 bytes, the
 * inverse of ggml's get_scale_min_k4.
 */
function packScaleMinK4(sc: readonly number[], m: readonly number[], out: Uint8Array, at: number): void {
  for (let j = 0; j < 4; j++) {
    out[at + j] = (sc[j]! & 63) | ((sc[j + 4]! >> 4) << 6);
    out[at + j + 4] = (m[j]! & 63) | ((m[j + 4]! >> 4) << 6);
    out[at + j + 8] = (sc[j + 4]! & 15) | ((m[j + 4]! & 15) << 4);
  }
}

/** Q3_K's sixteen 6-bit scales (stored +32) in 12 bytes. */
function packScalesQ3K(s: readonly number[], out: Uint8Array, at: number): void {
  for (let i = 0; i < 12; i++) out[at + i] = 0;
  for (let i = 0; i < 16; i++) {
    const v = s[i]! & 63;
    if (i < 8) out[at + i]! |= v & 15;
    else out[at + i - 8]! |= (v & 15) << 4;
    out[at + 8 + (i % 4)]! |= (v >> 4) << (2 * Math.floor(i / 4));
  }
}

function setHalf(out: Uint8Array, at: number, x: number): void {
  const h = halfBits(x);
  out[at] = h & 255;
  out[at + 1] = h >> 8;
}

/** Random values of standard deviation `std` (uniform distribution) as floats. */
function fillFloats(out: Uint8Array, n: number, std: number, rng: Rng, encode: "f32" | "f16" | "bf16"): void {
  const a = std * Math.sqrt(3);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < n; i++) {
    const x = (rng.uniform() * 2 - 1) * a;
    if (encode === "f32") view.setFloat32(i * 4, x, true);
    else view.setUint16(i * 2, encode === "f16" ? halfBits(x) : bf16Bits(x), true);
  }
}

/** Types `fillRandomBlocks` and `randomTestBlocks` write. */
export const RANDOM_BLOCK_TYPES: readonly string[] = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"];

/** Values per block of one of those types (rows must be a multiple of it). */
export function blockElements(typeName: string): number {
  const info = ggmlTypeByName(typeName);
  if (!info) throw new ShortgptError("ERR_UNSUPPORTED_TYPE", `unknown ggml type ${typeName}`);
  return info.blockElems;
}

/**
 * The bytes of each quantized format that hold scales and mins (byte ranges within a block):
 * what `setScales` writes; everything else is random quants.
 */
const SCALE_BYTES: Readonly<Record<string, readonly [number, number][]>> = {
  Q4_0: [[0, 2]],
  Q4_1: [[0, 4]],
  Q5_0: [[0, 2]],
  Q5_1: [[0, 4]],
  Q8_0: [[0, 2]],
  Q2_K: [[0, 16], [80, 84]],
  Q3_K: [[96, 110]],
  Q4_K: [[0, 16]],
  Q5_K: [[0, 16]],
  Q6_K: [[192, 210]],
  IQ4_NL: [[0, 2]],
  IQ4_XS: [[0, 8]],
};

/** Distinct scale sets drawn per tensor; each block takes one at random (a loop of copies instead of fresh draws). */
const SCALE_VARIANTS = 256;

/**
 * Fills `out` with `blocks` random blocks of ggml type `type` whose values have mean ~0 and
 * standard deviation ~`std` (for float types a block is one element). Quantized blocks get
 * random quants and one of 256 random scale sets drawn for this call.
 */
export function fillRandomBlocks(type: number, out: Uint8Array, blocks: number, std: number, rng: Rng): void {
  const name = ggmlTypeName(type);
  const info = ggmlType(type);
  if (!info || !RANDOM_BLOCK_TYPES.includes(name)) throw new ShortgptError("ERR_UNSUPPORTED_TYPE", `random weights cannot be made in ${name}`);
  const size = info.blockBytes;
  if (out.length < blocks * size) throw new ShortgptError("ERR_INVALID_ARG", `${blocks} ${name} blocks need ${blocks * size} bytes, got ${out.length}`);
  if (name === "F32" || name === "F16" || name === "BF16") {
    fillFloats(out, blocks, std, rng, name.toLowerCase() as "f32" | "f16" | "bf16");
    return;
  }
  rng.fill(out.subarray(0, blocks * size));
  if (blocks <= SCALE_VARIANTS || out.byteOffset % 2 !== 0) {
    setScales(name, out, blocks, std, rng);
    return;
  }
  // Every block size and scale field of these formats is 2-byte aligned: copy 16-bit words.
  const variants = new Uint8Array(SCALE_VARIANTS * size);
  setScales(name, variants, SCALE_VARIANTS, std, rng);
  const from = new Uint16Array(variants.buffer);
  const to = new Uint16Array(out.buffer, out.byteOffset, (blocks * size) / 2);
  const words: number[] = [];
  for (const [begin, end] of SCALE_BYTES[name]!) for (let b = begin; b < end; b += 2) words.push(b / 2);
  const half = size / 2;
  for (let b = 0; b < blocks; b++) {
    const v = (rng.u32() & (SCALE_VARIANTS - 1)) * half;
    const at = b * half;
    for (const w of words) to[at + w] = from[v + w]!;
  }
}

/** Writes the scale and min fields of `blocks` blocks (their quants are already random). */
function setScales(name: string, out: Uint8Array, blocks: number, std: number, rng: Rng): void {
  const size = ggmlTypeByName(name)!.blockBytes;
  const sc = new Array<number>(16).fill(0);
  const mins = new Array<number>(8).fill(0);
  for (let b = 0, at = 0; b < blocks; b++, at += size) {
    switch (name) {
      case "Q4_0": // {d, qs[16]}: (q - 8)·d
        setHalf(out, at, std / uniformStd(16));
        break;
      case "Q4_1": {
        // {d, m, qs[16]}: q·d + m, m = -7.5·d
        const d = std / uniformStd(16);
        setHalf(out, at, d);
        setHalf(out, at + 2, -7.5 * d);
        break;
      }
      case "Q5_0": // {d, qh[4], qs[16]}: (q5 - 16)·d
        setHalf(out, at, std / uniformStd(32));
        break;
      case "Q5_1": {
        const d = std / uniformStd(32);
        setHalf(out, at, d);
        setHalf(out, at + 2, -15.5 * d);
        break;
      }
      case "Q8_0": // {d, int8 qs[32]}: q·d
        setHalf(out, at, std / uniformStd(256));
        break;
      case "Q2_K": {
        // {scales[16], qs[64], d, dmin}: d·(sc & 15)·q − dmin·(sc >> 4), q in 0..3.
        // Scales even in 2..14 and mins = scale/2 with dmin = 3·d: each sub-block has mean 0.
        let sumSq = 0;
        for (let j = 0; j < 16; j++) {
          const s = 2 * rng.int(1, 7);
          out[at + j] = s | ((s / 2) << 4);
          sumSq += s * s;
        }
        setHalf(out, at + 80, std / (Math.sqrt(sumSq / 16) * uniformStd(4)));
        setHalf(out, at + 82, (3 * std) / (Math.sqrt(sumSq / 16) * uniformStd(4)));
        break;
      }
      case "Q3_K": {
        // {hmask[32], qs[64], scales[12], d}: d·(s − 32)·q3, q3 in −4..3 (mean −0.5).
        let sumSq = 0;
        for (let j = 0; j < 16; j++) {
          let s = rng.int(-31, 31);
          if (s === 0) s = 1;
          sc[j] = s + 32;
          sumSq += s * s;
        }
        packScalesQ3K(sc, out, at + 96);
        setHalf(out, at + 108, std / (Math.sqrt(sumSq / 16) * uniformStd(8)));
        break;
      }
      case "Q4_K":
      case "Q5_K": {
        // {d, dmin, scales[12], (qh[32],) qs}: d·sc·q − dmin·m; scales even in 2..62,
        // mins = scale/2 and dmin = 2·mid·d (mid = 7.5 or 15.5): each sub-block has mean 0.
        const levels = name === "Q4_K" ? 16 : 32;
        let sumSq = 0;
        for (let j = 0; j < 8; j++) {
          sc[j] = 2 * rng.int(1, 31);
          mins[j] = sc[j]! / 2;
          sumSq += sc[j]! * sc[j]!;
        }
        packScaleMinK4(sc, mins, out, at + 4);
        const d = std / (Math.sqrt(sumSq / 8) * uniformStd(levels));
        setHalf(out, at, d);
        setHalf(out, at + 2, (levels - 1) * d);
        break;
      }
      case "Q6_K": {
        // {ql[128], qh[64], int8 scales[16], d}: d·sc·(q − 32), q in 0..63.
        let sumSq = 0;
        for (let j = 0; j < 16; j++) {
          const s = rng.int(8, 64) * (rng.u32() & 1 ? 1 : -1);
          out[at + 192 + j] = s & 255;
          sumSq += s * s;
        }
        setHalf(out, at + 208, std / (Math.sqrt(sumSq / 16) * uniformStd(64)));
        break;
      }
      case "IQ4_NL": // {d, qs[16]}: d·K[q]
        setHalf(out, at, std / IQ4_RMS);
        break;
      case "IQ4_XS": {
        // {d, u16 scales_h, scales_l[4], qs[128]}: d·(ls − 32)·K[q], ls 6 bits per 32 values.
        let sumSq = 0;
        let high = 0;
        for (let j = 0; j < 8; j++) {
          let l = rng.int(-31, 31);
          if (l === 0) l = 1;
          const ls = l + 32;
          sumSq += l * l;
          high |= (ls >> 4) << (2 * j);
          if (j % 2 === 0) out[at + 4 + j / 2] = ls & 15;
          else out[at + 4 + (j - 1) / 2]! |= (ls & 15) << 4;
        }
        out[at + 2] = high & 255;
        out[at + 3] = high >> 8;
        setHalf(out, at, std / (Math.sqrt(sumSq / 8) * IQ4_RMS));
        break;
      }
    }
  }
}

/** Standard normal floats (Box-Muller on `Rng(seed)`), times `scale`. */
export function gaussianFloats(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rng.uniform(), 1e-12);
    const v = rng.uniform();
    const m = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Offsets of each block's f16 scale fields: d, then m or dmin. */
const F16_SCALES: Readonly<Record<string, readonly number[]>> = {
  Q4_0: [0],
  Q4_1: [0, 2],
  Q5_0: [0],
  Q5_1: [0, 2],
  Q8_0: [0],
  IQ4_NL: [0],
  Q2_K: [80, 82],
  Q3_K: [108],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
  IQ4_XS: [0],
};

/** Formats whose d and min are subtracted (y = d·q − m), so their scales are stored non-negative. */
const UNSIGNED_SCALES = new Set(["Q4_1", "Q5_1", "Q2_K", "Q4_K", "Q5_K"]);

export interface TestBlocks {
  /** ggml type id. */
  readonly type: number;
  readonly bytes: Uint8Array;
}

/**
 * `rows` rows of `nIn` values of `typeName` for kernel tests. Quantized formats: every bit
 * random, then each f16 scale set to a finite value of typical size (weights of order
 * 0.01-0.1 once the codes apply); with `extremes`, one scale in ten each is zero, 2^-24
 * (subnormal) or ±60000. Float formats: normal values of standard deviation 0.05.
 */
export function randomTestBlocks(typeName: string, rows: number, nIn: number, seed: number, extremes = false): TestBlocks {
  const info = ggmlTypeByName(typeName);
  if (!info || !RANDOM_BLOCK_TYPES.includes(info.name)) throw new ShortgptError("ERR_UNSUPPORTED_TYPE", `random test blocks cannot be made in ${typeName}`);
  if (nIn % info.blockElems !== 0) throw new ShortgptError("ERR_INVALID_ARG", `${nIn} values are not a whole number of ${info.name} blocks (${info.blockElems})`);
  const blocks = (rows * nIn) / info.blockElems;
  const bytes = new Uint8Array(blocks * info.blockBytes);
  const view = new DataView(bytes.buffer);
  if (info.blockElems === 1) {
    const g = gaussianFloats(blocks, seed, 0.05);
    for (let i = 0; i < blocks; i++) {
      if (info.name === "F32") view.setFloat32(4 * i, g[i]!, true);
      else view.setUint16(2 * i, info.name === "F16" ? halfBits(g[i]!) : bf16Bits(g[i]!), true);
    }
    return { type: info.id, bytes };
  }
  const rng = new Rng(seed);
  rng.fill(bytes);
  const typical = info.blockElems === 256 ? 0.004 : 0.02;
  for (let b = 0; b < blocks; b++) {
    for (const off of F16_SCALES[info.name]!) {
      let d = (rng.uniform() - 0.5) * typical;
      if (UNSIGNED_SCALES.has(info.name)) d = Math.abs(d);
      if (extremes) {
        const k = rng.int(0, 9);
        if (k === 0) d = 0;
        else if (k === 1) d = 2 ** -24;
        else if (k === 2) d = d < 0 ? -60000 : 60000;
      }
      view.setUint16(b * info.blockBytes + off, halfBits(d), true);
    }
  }
  return { type: info.id, bytes };
}
