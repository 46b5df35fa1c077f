/**
 * One MatmulScratch kept across a sequence of weights of different formats and
 * shapes — as the forward engine keeps one per backend — must give the bits a
 * fresh scratch per matmul gives, and so must a scratch whose weight panels are
 * filled with 0xff bytes (NaN as f32, -1 as int8 / int16) before every matmul:
 * the kernels may read no panel byte they did not write in the same call.
 * (The kernels before the row-interleaved panels read the padding of a Q32
 * panel's correction weights without writing it: a Q5_0 matmul after a Q6_K
 * one gave NaN, from Gemma 3's first FFN on.)
 *
 * Checked on every SIMD level this machine runs (kernels.matmulSequence), on
 *  - Gemma 3 270M Q4_K_M's weights in the engine's order (per block Q, K, V,
 *    output, gate, up, down: Q5_0 / Q8_0 / Q4_K / Q6_K at 640, 1024, 2048 in),
 *    then the tied output head's first rows, at T = 1, 7 and 130;
 *  - random sequences over every format, with row lengths that end in a
 *    partial 64-value step or span several K chunks, odd row counts, T up to 130;
 * and each shared-scratch result against the float64 reference (scalar path)
 * or the scalar path (SIMD paths), as in kernels-matmul.test.ts.
 */
import { closeSync, openSync, readSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { ggmlTypeName } from "../src/gguf/types.js";
import { GEMMA3_PATH } from "./helpers/data.js";
import {
  activationFormat,
  gaussian,
  kernels,
  minTermBound,
  randomWeights,
  referenceMatmul,
  rng,
  rowBytes,
  simdLevels,
  typeInfo,
  simdVsScalarTolerance,
  worst,
  type WeightRows,
} from "./fixtures/kernels/support.js";

type Simd = ReturnType<typeof simdLevels>[number];
type ScratchMode = "fresh" | "shared" | "poisoned";

interface Step {
  type: number;
  weight: Uint8Array;
  nIn: number;
  nOut: number;
  x: Float32Array;
  T: number;
}

interface Labeled {
  name: string;
  w: WeightRows;
  x: Float32Array;
  T: number;
}

function matmulSequence(steps: Step[], simd: Simd, threads: number, scratch: ScratchMode): Float32Array[] {
  const k = kernels() as unknown as {
    matmulSequence(steps: Step[], options: { simd: Simd; threads: number; scratch: ScratchMode }): Float32Array[];
  };
  return k.matmulSequence(steps, { simd, threads, scratch });
}

const LEVELS = simdLevels();
const ALL_TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"];

function toSteps(seq: Labeled[]): Step[] {
  return seq.map((s) => ({ type: s.w.type, weight: s.w.bytes, nIn: s.w.nIn, nOut: s.w.rows, x: s.x, T: s.T }));
}

/** First differing float (as bits) between two runs of a sequence, or undefined. */
function firstDifference(seq: Labeled[], a: Float32Array[], b: Float32Array[]): string | undefined {
  for (let i = 0; i < seq.length; i++) {
    const ya = a[i] as Float32Array, yb = b[i] as Float32Array;
    if (ya.length !== yb.length) return `step ${i} (${seq[i]?.name}): ${ya.length} vs ${yb.length} outputs`;
    const ua = new Uint32Array(ya.buffer, ya.byteOffset, ya.length), ub = new Uint32Array(yb.buffer, yb.byteOffset, yb.length);
    for (let j = 0; j < ua.length; j++) {
      if (ua[j] !== ub[j]) {
        let n = 0;
        for (let q = j; q < ua.length; q++) if (ua[q] !== ub[q]) n++;
        return `step ${i} (${seq[i]?.name}), output ${j}: ${ya[j]} vs ${yb[j]} (${n} of ${ua.length} outputs differ)`;
      }
    }
  }
  return undefined;
}

/**
 * The first `rows` weight rows' outputs of `y` against the float64 reference
 * (scalar) or the scalar path within float summation-order slack (SIMD).
 */
function checkAccuracy(s: Labeled, y: Float32Array, simd: Simd, rows: number): void {
  const k = kernels();
  const { w, x, T } = s;
  const t = typeInfo(w.typeName);
  const r = Math.min(rows, w.rows);
  const sub: WeightRows = { ...w, rows: r, bytes: w.bytes.subarray(0, r * rowBytes(t, w.nIn)) };
  const got = new Float32Array(T * r);
  for (let i = 0; i < T; i++) got.set(y.subarray(i * w.rows, i * w.rows + r), i * r);
  const wd = k.dequantize(sub.type, sub.bytes, r * sub.nIn);
  const ref = referenceMatmul(wd, sub.nIn, r, x, T, activationFormat(sub.typeName), t.blockElems);
  if (simd === "scalar") {
    const extra = minTermBound(sub, x, T);
    const bound = ref.bound.map((b, i) => b + (extra[i] as number));
    const bad = worst(got, ref.y, bound);
    expect(bad.ratio, `${s.name} scalar vs float64 reference at output ${bad.index}: ${got[bad.index]} vs ${ref.y[bad.index]}`).toBeLessThanOrEqual(1);
    return;
  }
  const scalar = k.matmul(sub.type, sub.bytes, sub.nIn, r, x, T, { simd: "scalar", threads: 1 });
  const tol = simdVsScalarTolerance(sub.typeName, sub.nIn, ref.terms);
  const d = worst(got, scalar, tol);
  expect(d.ratio, `${s.name} ${simd} vs scalar at output ${d.index}: ${got[d.index]} vs ${scalar[d.index]}`).toBeLessThanOrEqual(1);
}

/**
 * Runs `seq` fresh, shared and poisoned on one level; all must agree bit for bit, and the
 * first `accuracyRows` outputs of each step (fewer for long batches) be accurate.
 */
function checkSequence(seq: Labeled[], simd: Simd, threads: number, accuracyRows: number): void {
  const steps = toSteps(seq);
  const fresh = matmulSequence(steps, simd, threads, "fresh");
  const shared = matmulSequence(steps, simd, threads, "shared");
  const poisoned = matmulSequence(steps, simd, threads, "poisoned");
  const what = `${simd}, ${threads} threads`;
  expect(firstDifference(seq, shared, fresh), `${what}: shared scratch vs a fresh one`).toBeUndefined();
  expect(firstDifference(seq, poisoned, fresh), `${what}: poisoned scratch vs a fresh one`).toBeUndefined();
  for (const [i, s] of seq.entries()) checkAccuracy(s, shared[i] as Float32Array, simd, s.T > 17 ? 8 : accuracyRows);
}

// ---------------------------------------------------------------------------------------------
// Gemma 3 270M in the engine's order

/** The 2-D weights of `path` in forward order; the output head (tied to token_embd) limited to `headRows` rows. */
function forwardWeights(path: string, headRows: number): { name: string; w: WeightRows }[] {
  const file = readGguf(path);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const names: string[] = [];
  for (let b = 0; byName.has(`blk.${b}.attn_q.weight`); b++) {
    for (const part of ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]) names.push(`blk.${b}.${part}.weight`);
  }
  names.push(byName.has("output.weight") ? "output.weight" : "token_embd.weight");
  const fd = openSync(path, "r");
  try {
    return names.map((name) => {
      const info = byName.get(name);
      if (!info || info.dims.length !== 2) throw new Error(`${path}: no 2-D tensor ${name}`);
      const t = typeInfo(ggmlTypeName(info.type));
      const nIn = info.dims[0] as number;
      const rows = name.startsWith("blk.") ? (info.dims[1] as number) : Math.min(headRows, info.dims[1] as number);
      const bytes = new Uint8Array(rows * rowBytes(t, nIn));
      readSync(fd, bytes, 0, bytes.length, info.offset);
      return { name, w: { typeName: t.name, type: t.id, bytes, nIn, rows } };
    });
  } finally {
    closeSync(fd);
  }
}

describe("one matmul scratch across Gemma 3 270M's weights", () => {
  const weights = forwardWeights(GEMMA3_PATH, 4096);

  it("covers the model's mix of formats and shapes", () => {
    const kinds = new Set(weights.map(({ w }) => `${w.typeName} ${w.nIn}x${w.rows}`));
    for (const k of ["Q5_0 640x1024", "Q5_0 640x256", "Q8_0 640x256", "Q4_K 1024x640", "Q6_K 2048x640", "Q4_K 2048x640", "Q5_0 640x2048"]) {
      expect(kinds.has(k), k).toBe(true);
    }
    expect(weights.length).toBe(18 * 7 + 1);
  });

  for (const simd of LEVELS) {
    it(`${simd}: shared and poisoned scratch give a fresh scratch's bits, T = 1, 7${simd === "scalar" ? "" : ", 130"}`, () => {
      // The scalar path has no panels and is slow: the short batches only.
      for (const T of simd === "scalar" ? [1, 7] : [1, 7, 130]) {
        const seq = weights.map(({ name, w }, i) => ({ name, w, T, x: gaussian(T * w.nIn, 100 * T + i) }));
        checkSequence(seq, simd, 2, 40);
      }
    }, 120_000);
  }
});

// ---------------------------------------------------------------------------------------------
// Random mixes

/** Row lengths per block size: a partial 64-value step, one step, several K chunks (4096 / 2048 / 512). */
function randomNIn(typeName: string, r: () => number): number {
  const block = typeInfo(typeName).blockElems;
  const choices = block === 256 ? [256, 512, 768, 2560, 4352] : block === 32 ? [32, 96, 640, 1088, 4160, 8224] : [13, 64, 577, 640, 1040];
  return choices[Math.floor(r() * choices.length)] as number;
}

function randomSequence(seed: number, length: number): Labeled[] {
  const r = rng(seed);
  const seq: Labeled[] = [];
  for (let i = 0; i < length; i++) {
    const typeName = ALL_TYPES[Math.floor(r() * ALL_TYPES.length)] as string;
    const nIn = randomNIn(typeName, r);
    const rows = 1 + Math.floor(r() * 70);
    const T = [1, 2, 5, 17, 130][Math.floor(r() * 5)] as number;
    const w = randomWeights(typeName, rows, nIn, seed * 1000 + i, r() < 0.25);
    seq.push({ name: `${typeName} ${nIn}x${rows} T=${T}`, w, T, x: gaussian(T * nIn, seed * 1000 + 500 + i) });
  }
  return seq;
}

describe("one matmul scratch across random mixes of formats and shapes", () => {
  for (const simd of LEVELS) {
    it(`${simd}: shared and poisoned scratch give a fresh scratch's bits`, () => {
      for (let seed = 1; seed <= 6; seed++) {
        checkSequence(randomSequence(seed, 14), simd, 1 + (seed % 3), 70);
      }
    }, 120_000);
  }

  it("every format appears in the mixes", () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 6; seed++) for (const s of randomSequence(seed, 14)) seen.add(s.w.typeName);
    expect([...seen].sort()).toEqual([...ALL_TYPES].sort());
  });

  it("matmulSequence rejects a bad scratch mode and inconsistent steps", () => {
    const w = randomWeights("Q4_0", 2, 64, 1);
    const step = { type: w.type, weight: w.bytes, nIn: 64, nOut: 2, x: new Float32Array(64), T: 1 };
    const invalid = expect.objectContaining({ code: "ERR_INVALID_ARG" });
    expect(() => matmulSequence([step], "scalar", 1, "reused" as ScratchMode)).toThrow(invalid);
    expect(() => matmulSequence([{ ...step, nOut: 3 }], "scalar", 1, "shared")).toThrow(invalid);
    expect(() => matmulSequence([{ ...step, T: 2 }], "scalar", 1, "shared")).toThrow(invalid);
    expect(matmulSequence([], "scalar", 1, "shared")).toEqual([]);
  });
});
