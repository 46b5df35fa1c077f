/**
 * The batched matmul Y = X·Wᵀ for every weight format:
 *  - the scalar path against a float64 reference (dequantized W × unquantized X) within a
 *    bound derived from the activation quantization (test/fixtures/kernels/support.ts);
 *  - every SIMD level this machine runs against the scalar path (same integer block sums,
 *    so they differ only by float summation order);
 *  - odd shapes: T = 1, 3, 17, 512; row lengths that are not a multiple of the kernels'
 *    64-value step or K chunk; odd row counts; zero, tiny and outlier activations;
 *  - results independent of the thread count; argument checks; SHORTGPT_SIMD forcing.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { GEMMA3_PATH, REPO_ROOT, SMOLLM2_PATH } from "./helpers/data.js";
import {
  activationFormat,
  gaussian,
  kernels,
  minTermBound,
  randomWeights,
  referenceMatmul,
  simdLevels,
  tensorRows,
  typeInfo,
  simdVsScalarTolerance,
  worst,
  type WeightRows,
} from "./fixtures/kernels/support.js";

const TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"];
const LEVELS = simdLevels();

interface Shape {
  nIn: number;
  nOut: number;
  T: number;
  extremes?: boolean;
}

/** Shapes per block size: tails of the 64-value step, and more than one K chunk (4096 / 2048 / 512). */
function shapes(typeName: string): Shape[] {
  const block = typeInfo(typeName).blockElems;
  if (block === 256) return [{ nIn: 256, nOut: 33, T: 1 }, { nIn: 512, nOut: 37, T: 3, extremes: true }, { nIn: 2560, nOut: 9, T: 17 }];
  if (block === 32) return [{ nIn: 96, nOut: 33, T: 1 }, { nIn: 576, nOut: 37, T: 3, extremes: true }, { nIn: 4160, nOut: 9, T: 17 }];
  return [{ nIn: 13, nOut: 5, T: 3 }, { nIn: 577, nOut: 37, T: 17 }, { nIn: 1040, nOut: 9, T: 1 }];
}

/** Activations: gaussian rows, and (when T > 3) first a zero row, a row with outliers, a tiny row. */
function activations(T: number, nIn: number, seed: number): Float32Array {
  const x = gaussian(T * nIn, seed);
  if (T > 3) {
    x.fill(0, 0, nIn);
    for (let i = nIn; i < 2 * nIn; i += 37) x[i] = (i % 2 ? 1 : -1) * 300;
    for (let i = 2 * nIn; i < 3 * nIn; i++) x[i] = (x[i] as number) * 1e-6;
  }
  return x;
}

function checkAgainstReference(w: WeightRows, x: Float32Array, T: number, what: string): Float32Array {
  const k = kernels();
  const wd = k.dequantize(w.type, w.bytes, w.rows * w.nIn);
  const ref = referenceMatmul(wd, w.nIn, w.rows, x, T, activationFormat(w.typeName), typeInfo(w.typeName).blockElems);
  const extra = minTermBound(w, x, T);
  const ys = k.matmul(w.type, w.bytes, w.nIn, w.rows, x, T, { simd: "scalar", threads: 2 });
  const bound = ref.bound.map((b, i) => b + (extra[i] as number));
  const bad = worst(ys, ref.y, bound);
  expect(bad.ratio, `${what}: scalar vs float64 reference at output ${bad.index}: ${ys[bad.index]} vs ${ref.y[bad.index]}, bound ${bound[bad.index]}`).toBeLessThanOrEqual(1);
  // The bound must be tight enough to catch a wrong block: under 2% of Σ|w·x| at the median
  // output of the last activation row (a plain gaussian one; the zero, outlier and tiny rows
  // have large relative bounds by design).
  const last = (T - 1) * w.rows;
  const rel = Array.from(bound.subarray(last), (b, i) => b / Math.max(ref.magnitude[last + i] as number, 1e-30)).sort((a, b) => a - b);
  expect(rel[rel.length >> 1], `${what}: bound too loose to mean anything`).toBeLessThan(0.02);

  const tol = simdVsScalarTolerance(w.typeName, w.nIn, ref.terms);
  for (const simd of LEVELS.filter((l) => l !== "scalar")) {
    const ya = k.matmul(w.type, w.bytes, w.nIn, w.rows, x, T, { simd, threads: 2 });
    const d = worst(ya, ys, tol);
    expect(d.ratio, `${what}: ${simd} vs scalar at output ${d.index}: ${ya[d.index]} vs ${ys[d.index]}`).toBeLessThanOrEqual(1);
  }
  return ys;
}

describe("matmul vs float64 reference, SIMD vs scalar", () => {
  for (const [ti, typeName] of TYPES.entries()) {
    it(typeName, () => {
      for (const [si, s] of shapes(typeName).entries()) {
        const w = randomWeights(typeName, s.nOut, s.nIn, 1000 + 10 * ti + si, s.extremes);
        const x = activations(s.T, s.nIn, 77 + si);
        checkAgainstReference(w, x, s.T, `${typeName} ${s.T}x${s.nIn} . ${s.nOut}x${s.nIn}`);
      }
    });
  }

  for (const typeName of ["Q4_0", "Q8_0", "Q4_K", "Q6_K", "F16"]) {
    it(`${typeName}, T = 512`, () => {
      const nIn = typeInfo(typeName).blockElems === 256 ? 512 : 576;
      const w = randomWeights(typeName, 19, nIn, 5);
      checkAgainstReference(w, activations(512, nIn, 9), 512, `${typeName} 512x${nIn}`);
    });
  }
});

describe("matmul on rows of real tensors", () => {
  const cases: [string, string, string][] = [
    ["SmolLM2", SMOLLM2_PATH, "Q4_1"],
    ["SmolLM2", SMOLLM2_PATH, "Q8_0"],
    ["Gemma 3", GEMMA3_PATH, "Q5_0"],
    ["Gemma 3", GEMMA3_PATH, "Q4_K"],
    ["Gemma 3", GEMMA3_PATH, "Q6_K"],
  ];
  for (const [model, path, typeName] of cases) {
    it(`${typeName} (${model})`, () => {
      const w = tensorRows(path, typeName, 41);
      checkAgainstReference(w, activations(5, w.nIn, 11), 5, `${model} ${w.name}`);
    });
  }
});

describe("threads", () => {
  it("results are bitwise the same for 1, 2 and 3 threads", () => {
    const k = kernels();
    for (const typeName of ["Q4_0", "Q5_1", "Q4_K", "IQ4_XS", "F16"]) {
      const nIn = typeInfo(typeName).blockElems === 256 ? 2560 : 1088;
      const w = randomWeights(typeName, 70, nIn, 3);
      const x = activations(130, nIn, 4); // 130 rows: two activation chunks per weight tile
      for (const simd of LEVELS) {
        const y1 = k.matmul(w.type, w.bytes, nIn, 70, x, 130, { simd, threads: 1 });
        for (const threads of [2, 3]) {
          const y = k.matmul(w.type, w.bytes, nIn, 70, x, 130, { simd, threads });
          expect(Buffer.from(y.buffer).equals(Buffer.from(y1.buffer)), `${typeName} ${simd} threads=${threads}`).toBe(true);
        }
      }
    }
  });

  it("many short-lived pools of 2 to 8 threads give the same result every time", () => {
    // Each kernels.matmul call builds and tears down its own pool: this exercises pool
    // start-up (a worker that starts after the first job is published must still take part).
    const k = kernels();
    const w = randomWeights("Q8_0", 96, 256, 8);
    const x = activations(96, 256, 9); // 96·96·256 multiply-adds: above the serial cutoff
    const first = k.matmul(w.type, w.bytes, 256, 96, x, 96, { threads: 2 });
    for (let i = 0; i < 60; i++) {
      const y = k.matmul(w.type, w.bytes, 256, 96, x, 96, { threads: 2 + (i % 7) });
      expect(Buffer.from(y.buffer).equals(Buffer.from(first.buffer)), `call ${i}`).toBe(true);
    }
  });

  it("physicalCores is a sane positive count", () => {
    const n = kernels().physicalCores();
    expect(Number.isInteger(n) && n >= 1 && n <= 4096).toBe(true);
  });
});

describe("argument checks", () => {
  const k = kernels();
  const w = randomWeights("Q4_0", 2, 64, 1);
  const x = new Float32Array(64);
  const invalid = expect.objectContaining({ code: "ERR_INVALID_ARG" });
  it("throws ERR_INVALID_ARG on inconsistent sizes, never crashes", () => {
    expect(() => k.matmul(2, w.bytes.subarray(1), 64, 2, x, 1)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 3, x, 1)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 48, 2, x, 1)).toThrow(invalid); // not a whole number of blocks
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 2)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x.subarray(1), 1)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x, -1)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 1.5)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, new Float64Array(64) as unknown as Float32Array, 1)).toThrow(invalid);
    expect(() => k.matmul(2, Array.from(w.bytes) as unknown as Uint8Array, 64, 2, x, 1)).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 1, { threads: 0 })).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 1, { threads: 5000 })).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 1, { simd: "sse" as never })).toThrow(invalid);
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 2 ** 40)).toThrow(invalid);
    expect(() => k.matmul(16, new Uint8Array(66 * 2), 256, 2, new Float32Array(256), 1)).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED_TYPE" }));
    expect(k.matmul(2, w.bytes, 64, 2, new Float32Array(0), 0).length).toBe(0);
  });

  it("a SIMD level the CPU lacks is ERR_UNSUPPORTED_SIMD", () => {
    const best = addonBest();
    if (best === "avx512") return; // every level runs here
    expect(() => k.matmul(2, w.bytes, 64, 2, x, 1, { simd: "avx512" })).toThrow(expect.objectContaining({ code: "ERR_UNSUPPORTED_SIMD" }));
  });
});

function addonBest(): string {
  return LEVELS[LEVELS.length - 1] as string;
}

describe("SHORTGPT_SIMD", () => {
  // A child process loads the addon with the variable set and runs a matmul without an
  // explicit level; the parent checks it got exactly the forced level's result.
  const CHILD = String.raw`
const a = require("node-gyp-build")(process.argv[1]);
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
try { out.active = a.buildInfo().simd.active; } catch (e) { out.infoError = e.code; }
try {
  out.y = Array.from(a.kernels.matmul(input.type, Uint8Array.from(input.w), input.nIn, input.nOut, Float32Array.from(input.x), input.T, { threads: 1 }));
} catch (e) { out.matmulError = e.code; }
process.stdout.write(JSON.stringify(out));
`;
  const w = randomWeights("Q4_0", 16, 2048, 21);
  const x = activations(4, 2048, 22);
  const input = JSON.stringify({ type: w.type, w: Array.from(w.bytes), nIn: 2048, nOut: 16, x: Array.from(x), T: 4 });
  function child(simd: string): { active?: string; infoError?: string; y?: number[]; matmulError?: string } {
    const out = execFileSync(process.execPath, ["-e", CHILD, join(REPO_ROOT)], {
      cwd: REPO_ROOT,
      input,
      env: { ...process.env, SHORTGPT_SIMD: simd },
      encoding: "utf8",
    });
    return JSON.parse(out) as ReturnType<typeof child>;
  }

  it("forces each available level, and the forced level is the one that ran", () => {
    const k = kernels();
    const results = new Map(LEVELS.map((simd) => [simd, Array.from(k.matmul(w.type, w.bytes, 2048, 16, x, 4, { simd, threads: 1 }))]));
    if (LEVELS.length > 1) {
      // Float summation order differs between levels, so the results tell them apart.
      expect(results.get("scalar")).not.toEqual(results.get(LEVELS[1] as "avx2"));
    }
    for (const simd of LEVELS) {
      const out = child(simd);
      expect(out.active).toBe(simd);
      expect(out.y).toEqual(results.get(simd));
    }
  });

  it("an unknown or unavailable level is ERR_UNSUPPORTED_SIMD", () => {
    const bogus = child("sse9");
    expect(bogus.infoError).toBe("ERR_UNSUPPORTED_SIMD");
    expect(bogus.matmulError).toBe("ERR_UNSUPPORTED_SIMD");
    if (addonBest() !== "avx512") {
      const out = child("avx512");
      expect(out.matmulError).toBe("ERR_UNSUPPORTED_SIMD");
    }
  });
});
