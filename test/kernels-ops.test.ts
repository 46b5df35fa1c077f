/**
 * The small kernels (native/cpu/ops.h, rope.h) and the activation conversions:
 *  - f16 / bf16 conversion against a reference that picks the nearest representable value
 *    from the sorted list of all 65536 (independent of the bit tricks in fp16.h), on every
 *    half, special values, subnormals and ties; SIMD exactly equal to scalar;
 *  - rmsnorm / layernorm against a float emulation of ggml's steps (Math.fround): exact for
 *    the scalar path, within 2 ulp for SIMD (its double sum runs in another order);
 *  - softmax, SiLU, SwiGLU, GELU against float64 formulas within a few ulp (the SIMD exp is
 *    a polynomial within ~2 ulp of expf); llama.cpp's GELU f16 table within one f16 step;
 *  - RoPE (normal, NEOX, frequency factors, YaRN) against an emulation of ggml's float
 *    theta recurrence;
 *  - Q8_0 / Q8_1 / Q8_K activation quantization against an emulation of llama.cpp's x86 path.
 */
import { describe, expect, it } from "vitest";

import { gaussian, halfToFloat, kernels, rng, simdLevels } from "./fixtures/kernels/support.js";

const LEVELS = simdLevels();
const f = Math.fround;

function u32(x: number): number {
  return new Uint32Array(new Float32Array([x]).buffer)[0] as number;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: (w: number, i: number) => number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i] as number, w = want[i] as number;
    if (Number.isNaN(w) ? !Number.isNaN(g) : !(Math.abs(g - w) <= tol(w, i))) {
      throw new Error(`${what}: [${i}] = ${g}, expected ${w} (±${tol(w, i)})`);
    }
  }
}

const ulps = (n: number) => (w: number) => n * Math.max(Math.abs(w), 1e-30) * 2 ** -23;

// ---------------------------------------------------------------------------------------------
// Nearest-value references for f16 and bf16

/** Finite non-negative values of a 16-bit format, sorted, with their bit patterns. */
function table16(decode: (h: number) => number): { values: Float64Array; bits: Uint16Array } {
  const pairs: [number, number][] = [];
  for (let h = 0; h < 0x8000; h++) {
    const v = decode(h);
    if (Number.isFinite(v)) pairs.push([v, h]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  return { values: Float64Array.from(pairs, (p) => p[0]), bits: Uint16Array.from(pairs, (p) => p[1]) };
}

const HALF = table16(halfToFloat);
const BF16 = table16((h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0] as number);

/** Round to nearest representable, ties to the even bit pattern; beyond the largest finite: inf. */
function nearest(t: { values: Float64Array; bits: Uint16Array }, x: number, infBits: number, overflowAt: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= overflowAt) return sign | infBits;
  let lo = 0, hi = t.values.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((t.values[mid] as number) <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - (t.values[lo] as number), dh = (t.values[hi] as number) - a;
  const pick = dl < dh ? lo : dh < dl ? hi : ((t.bits[lo] as number) & 1) === 0 ? lo : hi;
  return sign | (t.bits[pick] as number);
}

const refF16 = (x: number) => (Number.isNaN(x) ? -1 : nearest(HALF, x, 0x7c00, 65520));
// bf16 overflows where the float is at least halfway past the largest finite bf16.
const refBF16 = (x: number) => (Number.isNaN(x) ? -1 : nearest(BF16, x, 0x7f80, 3.3961775292304019e38));

function conversionInputs(): Float32Array {
  const xs: number[] = [0, -0, 1, -1, 65504, -65504, 65519.99, 65520, 65536, 1e6, 3.4e38, -3.4e38, Infinity, -Infinity];
  xs.push(2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 2 ** -26, 2 ** -133, 1e-45, 1.17549435e-38);
  for (let h = 0; h < 0x10000; h++) {
    const v = halfToFloat(h);
    if (!Number.isFinite(v)) continue;
    xs.push(v);
    // The point halfway to the next half up (a tie), and just either side of it.
    const next = halfToFloat((h & 0x7fff) === 0x7bff ? h : h + 1);
    if (Number.isFinite(next) && (h & 0x7fff) < 0x7bff) {
      const mid = (v + next) / 2;
      xs.push(mid, f(mid) === mid ? mid : f(mid));
      xs.push(mid + Math.abs(mid) * 1e-6, mid - Math.abs(mid) * 1e-6);
    }
  }
  const r = rng(5);
  for (let i = 0; i < 20000; i++) xs.push((r() - 0.5) * 2 ** Math.floor(r() * 80 - 40));
  return Float32Array.from(xs);
}

describe("f16 and bf16 conversion", () => {
  const x = conversionInputs();
  it("toF16 is round-to-nearest-even, on every level", () => {
    for (const simd of LEVELS) {
      const h = kernels().toF16(x, { simd });
      for (let i = 0; i < x.length; i++) {
        const want = refF16(x[i] as number);
        if (h[i] !== want) throw new Error(`${simd}: toF16(${x[i]}) = 0x${h[i]?.toString(16)}, expected 0x${want.toString(16)}`);
      }
    }
  });

  it("fromF16 decodes every half exactly; roundF16 = fromF16(toF16(x))", () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i);
    for (const simd of LEVELS) {
      const v = kernels().fromF16(all, { simd });
      for (let h = 0; h < 0x10000; h++) {
        const want = halfToFloat(h);
        if (Number.isNaN(want) ? !Number.isNaN(v[h] as number) : !Object.is(v[h], f(want))) throw new Error(`${simd}: fromF16(0x${h.toString(16)}) = ${v[h]}`);
      }
      const rounded = kernels().roundF16(x, { simd });
      const via = kernels().fromF16(kernels().toF16(x, { simd }), { simd });
      expect(Buffer.from(rounded.buffer).equals(Buffer.from(via.buffer)), simd).toBe(true);
    }
    // NaN stays NaN, quiet.
    const h = kernels().toF16(new Float32Array([Number.NaN]));
    expect(((h[0] as number) & 0x7e00) === 0x7e00).toBe(true);
  });

  it("toBF16 is round-to-nearest-even, fromBF16 exact", () => {
    const h = kernels().toBF16(x);
    for (let i = 0; i < x.length; i++) {
      const want = refBF16(x[i] as number);
      if (h[i] !== want) throw new Error(`toBF16(${x[i]}) = 0x${h[i]?.toString(16)}, expected 0x${want.toString(16)}`);
    }
    const back = kernels().fromBF16(h);
    for (let i = 0; i < x.length; i++) expect(u32(back[i] as number)).toBe((h[i] as number) << 16 >>> 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Norms

/** ggml's rms_norm then mul, step by step in float (double only for the sum of squares). */
function rmsnormRef(x: Float32Array, w: Float32Array | null, eps: number): Float32Array {
  let sum = 0;
  for (const v of x) sum += f(v * v);
  const mean = f(sum / x.length);
  const s = f(1 / f(Math.sqrt(f(mean + f(eps)))));
  return x.map((v, i) => (w ? f(f(v * s) * (w[i] as number)) : f(v * s)));
}

function layernormRef(x: Float32Array, w: Float32Array | null, b: Float32Array | null, eps: number): Float32Array {
  let sum = 0;
  for (const v of x) sum += v;
  const mean = f(sum / x.length);
  const c = x.map((v) => f(v - mean));
  let sum2 = 0;
  for (const v of c) sum2 += f(v * v);
  const variance = f(sum2 / x.length);
  const s = f(1 / f(Math.sqrt(f(variance + f(eps)))));
  return c.map((v, i) => {
    let y = f(v * s);
    if (w) y = f(y * (w[i] as number));
    if (b) y = f(y + (b[i] as number));
    return y;
  });
}

describe("norms", () => {
  for (const n of [1, 7, 64, 576, 2049]) {
    it(`rmsnorm, n = ${n}`, () => {
      const x = gaussian(3 * n, n, 3), w = gaussian(n, n + 1);
      for (const weight of [w, null]) {
        for (const simd of LEVELS) {
          const y = kernels().rmsnorm(x, n, weight, 1e-6, { simd });
          for (let r = 0; r < 3; r++) {
            const want = rmsnormRef(x.subarray(r * n, (r + 1) * n), weight, 1e-6);
            expectClose(y.subarray(r * n, (r + 1) * n), want, simd === "scalar" ? () => 0 : ulps(2), `rmsnorm ${simd} row ${r}`);
          }
        }
      }
    });
  }

  it("layernorm with and without weight and bias", () => {
    const n = 333;
    const x = gaussian(2 * n, 4, 2).map((v) => v + 5), w = gaussian(n, 5), b = gaussian(n, 6);
    for (const [ww, bb] of [[w, b], [w, null], [null, null]] as const) {
      const y = kernels().layernorm(x, n, ww, bb, 1e-5);
      for (let r = 0; r < 2; r++) {
        expectClose(y.subarray(r * n, (r + 1) * n), layernormRef(x.subarray(r * n, (r + 1) * n), ww, bb, 1e-5), () => 0, "layernorm");
      }
    }
  });

  it("a zero row with eps gives zeros, not NaN", () => {
    for (const simd of LEVELS) expect(Array.from(kernels().rmsnorm(new Float32Array(40), 40, null, 1e-6, { simd }))).toEqual(new Array(40).fill(0));
  });
});

// ---------------------------------------------------------------------------------------------
// Softmax and activations

describe("softmax", () => {
  it("matches float64 within a few ulp, with scale and mask", () => {
    const n = 301;
    const x = gaussian(4 * n, 7, 4);
    const mask = new Float32Array(n).map((_, i) => (i % 7 === 3 ? -Infinity : i % 5 === 0 ? -2 : 0));
    for (const simd of LEVELS) {
      const y = kernels().softmax(x, n, 0.125, mask, { simd });
      for (let r = 0; r < 4; r++) {
        const v = Array.from(x.subarray(r * n, (r + 1) * n), (xi, i) => f(f(xi * 0.125) + (mask[i] as number)));
        const max = Math.max(...v);
        const e = v.map((t) => Math.exp(t - max));
        const s = e.reduce((a, b) => a + b, 0);
        // exp of a float argument: ≤ 3 ulp (polynomial) + normalization ≤ 2 ulp.
        expectClose(y.subarray(r * n, (r + 1) * n), e.map((t) => t / s), ulps(6), `softmax ${simd} row ${r}`);
        for (let i = 0; i < n; i++) if (mask[i] === -Infinity) expect(y[r * n + i]).toBe(0);
      }
    }
  });

  it("a fully masked row is zeros; a per-row mask applies per row", () => {
    const n = 17;
    for (const simd of LEVELS) {
      const y = kernels().softmax(gaussian(2 * n, 1), n, 1, new Float32Array(2 * n).fill(-Infinity).fill(0, n), { simd });
      expect(Array.from(y.subarray(0, n))).toEqual(new Array(n).fill(0));
      expect(Math.abs(y.subarray(n).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6);
    }
  });
});

describe("activations", () => {
  const x = Float32Array.from([...gaussian(997, 8, 4), -88, -87.5, -20, -10, -1e-8, 0, 1e-8, 10, 20, 40, 87, 88.7, -103, 1e3, -1e3]);
  it("silu and swiglu within 4 ulp of float64", () => {
    const up = gaussian(x.length, 9);
    for (const simd of LEVELS) {
      // exp(-x) in float: beyond ~88.7 it overflows to inf and silu is (-)0, as in C.
      const silu = (v: number) => v / (1 + f(Math.exp(-v)));
      const y = kernels().unary("silu", x, { simd });
      expectClose(y, Array.from(x, silu), (w) => Math.max(4 * Math.abs(w) * 2 ** -23, 1e-44), `silu ${simd}`);
      const g = kernels().glu("swiglu", x, up, { simd });
      expectClose(g, Array.from(x, (v, i) => silu(v) * (up[i] as number)), (w) => Math.max(5 * Math.abs(w) * 2 ** -23, 1e-44), `swiglu ${simd}`);
    }
  });

  // ggml_gelu_f32 step by step in float. For negative x, 1 + tanh(..) cancels: the float
  // result carries an absolute error of about |x|·2⁻²⁴ from tanh's last bit, which the
  // comparisons allow (tanhf and the correctly rounded tanh may differ by one ulp).
  const S = f(0.79788456080286535587989211986876), A = f(0.044715);
  const gelu = (v: number) => f(f(0.5 * v) * f(1 + f(Math.tanh(f(f(S * v) * f(1 + f(f(A * v) * v)))))));
  const geluTol = (v: number) => 2 * Math.abs(v) * 2 ** -23 + 2 ** -130;

  it("gelu (tanh approximation) as ggml computes it in float", () => {
    const xs = x.filter((v) => Math.abs(v) < 100);
    const y = kernels().unary("gelu", xs);
    expectClose(y, Array.from(xs, gelu), (_, i) => geluTol(xs[i] as number), "gelu");
  });

  it("gelu_f16 is llama.cpp's f16 table: 0 below -10, x above 10, else gelu(f16(x)) rounded to f16", () => {
    const xs = Float32Array.from([...x, -10, -9.999, 9.999, 10, 65000, -65000]);
    const y = kernels().unary("gelu_f16", xs);
    const h = kernels().toF16(xs.map((v) => (Math.abs(v) < 10 ? v : 0)));
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i] as number;
      if (v <= -10) expect(y[i], `gelu_f16(${v})`).toBe(0);
      else if (v >= 10) expect(y[i], `gelu_f16(${v})`).toBe(v);
      else {
        // The table holds f16(gelu_f32(h)): allow gelu's float error (above) plus one f16 step.
        const hv = halfToFloat(h[i] as number);
        const want = halfToFloat(refF16(gelu(hv)));
        const step = Math.max(Math.abs(want) * 2 ** -10, 2 ** -24);
        expect(Math.abs((y[i] as number) - want), `gelu_f16(${v}) = ${y[i]} vs ${want}`).toBeLessThanOrEqual(step + geluTol(hv));
      }
    }
    const up = gaussian(xs.length, 3);
    const g = kernels().glu("geglu_f16", xs, up);
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i] as number;
      const want = v <= -10 ? 0 : v >= 10 ? f(v * (up[i] as number)) : f((y[i] as number) * (up[i] as number));
      expect(g[i], `geglu_f16 at ${v}`).toBe(want);
    }
    const exact = kernels().glu("geglu", xs.filter((v) => Math.abs(v) < 100), up.subarray(0, xs.filter((v) => Math.abs(v) < 100).length));
    expect(exact.every((v) => Number.isFinite(v))).toBe(true);
  });

  it("add, mul, scale, softcap", () => {
    const a = gaussian(101, 1), b = gaussian(101, 2);
    expect(Array.from(kernels().binary("add", a, b))).toEqual(Array.from(a, (v, i) => f(v + (b[i] as number))));
    expect(Array.from(kernels().binary("mul", a, b))).toEqual(Array.from(a, (v, i) => f(v * (b[i] as number))));
    expect(Array.from(kernels().scale(a, 0.3))).toEqual(Array.from(a, (v) => f(v * f(0.3))));
    expectClose(kernels().softcap(a.map((v) => v * 100), 30), Array.from(a, (v) => 30 * Math.tanh(f(v * 100) / 30)), ulps(4), "softcap");
    expect(() => kernels().binary("add", a, b.subarray(1))).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
  });
});

// ---------------------------------------------------------------------------------------------
// RoPE

/** ggml_rope_cache_init + rotation, with theta advanced by a float multiply per pair. */
function ropeRef(x: Float32Array, headDim: number, positions: number[], o: { mode: "normal" | "neox"; nRot: number; freqBase: number; freqScale: number; freqFactors?: Float32Array; extFactor?: number; attnFactor?: number; corrDims?: [number, number] }): Float64Array {
  const out = Float64Array.from(x);
  const thetaScale = f(Math.pow(o.freqBase, f(-2 / o.nRot)));
  for (const [r, pos] of positions.entries()) {
    let theta = f(pos);
    for (let i0 = 0; i0 < o.nRot; i0 += 2) {
      const ff = o.freqFactors ? (o.freqFactors[i0 / 2] as number) : 1;
      const extrap = f(theta / ff);
      const interp = f(o.freqScale * extrap);
      let angle = interp;
      let mscale = o.attnFactor ?? 1;
      if (o.extFactor) {
        // rope_yarn in float: the angle is large (pos·θ), so its float rounding matters.
        const [low, high] = o.corrDims as [number, number];
        const y = f(f(Math.floor(i0 / 2) - low) / f(Math.max(0.001, high - low)));
        const mix = f(f(1 - Math.min(1, Math.max(0, y))) * o.extFactor);
        angle = f(f(interp * f(1 - mix)) + f(extrap * mix));
        mscale = f(mscale * f(1 + f(0.1 * f(Math.log(f(1 / o.freqScale))))));
      }
      const c = f(f(Math.cos(angle)) * mscale), s = f(f(Math.sin(angle)) * mscale);
      const a = o.mode === "normal" ? i0 : i0 / 2;
      const b = o.mode === "normal" ? i0 + 1 : i0 / 2 + o.nRot / 2;
      const x0 = x[r * headDim + a] as number, x1 = x[r * headDim + b] as number;
      out[r * headDim + a] = x0 * c - x1 * s;
      out[r * headDim + b] = x0 * s + x1 * c;
      theta = f(theta * thetaScale);
    }
  }
  return out;
}

describe("rope", () => {
  const headDim = 64;
  const positions = [0, 1, 7, 100, 511, 4095];
  const x = gaussian(positions.length * headDim, 12);
  const pos = Float32Array.from(positions);
  // cos/sin of the same float angle agree to ~1 ulp; the rotation adds two roundings: the
  // values are of order 1-4, so 3e-6 absolute is a few ulp.

  for (const mode of ["normal", "neox"] as const) {
    it(`${mode}: full rotation, partial rotation, frequency factors`, () => {
      const full = kernels().rope(x, headDim, pos, { mode, freqBase: 10000 });
      expectClose(full, ropeRef(x, headDim, positions, { mode, nRot: headDim, freqBase: 10000, freqScale: 1 }), () => 3e-6, `${mode} full`);
      const partial = kernels().rope(x, headDim, pos, { mode, nRot: 32, freqBase: 500000, freqScale: 0.25 });
      expectClose(partial, ropeRef(x, headDim, positions, { mode, nRot: 32, freqBase: 500000, freqScale: 0.25 }), () => 3e-6, `${mode} partial`);
      for (let r = 0; r < positions.length; r++) {
        for (let i = 32; i < headDim; i++) expect(partial[r * headDim + i]).toBe(x[r * headDim + i]);
      }
      const ff = Float32Array.from({ length: 32 }, (_, i) => 1 + i / 8);
      const withFactors = kernels().rope(x, headDim, pos, { mode, freqFactors: ff });
      expectClose(withFactors, ropeRef(x, headDim, positions, { mode, nRot: headDim, freqBase: 10000, freqScale: 1, freqFactors: ff }), () => 3e-6, `${mode} factors`);
      // Position 0 is the identity.
      expect(Array.from(full.subarray(0, headDim))).toEqual(Array.from(x.subarray(0, headDim)));
    });
  }

  it("YaRN: ramped interpolation and magnitude scale", () => {
    const o = { mode: "neox" as const, nRot: headDim, freqBase: 10000, freqScale: 0.25, extFactor: 1, attnFactor: 1 };
    const y = kernels().rope(x, headDim, pos, { ...o, nCtxOrig: 4096, betaFast: 32, betaSlow: 1 });
    // ggml_rope_yarn_corr_dims in float64 (the C code works in float; integers after floor/ceil).
    const dim = (nRot: number) => (headDim * Math.log(4096 / (nRot * 2 * Math.PI))) / (2 * Math.log(10000));
    const corrDims: [number, number] = [Math.max(0, Math.floor(dim(32))), Math.min(headDim - 1, Math.ceil(dim(1)))];
    expectClose(y, ropeRef(x, headDim, positions, { ...o, corrDims }), () => 5e-6, "yarn");
  });

  it("checks its arguments", () => {
    const invalid = expect.objectContaining({ code: "ERR_INVALID_ARG" });
    expect(() => kernels().rope(x, headDim, pos.subarray(1))).toThrow(invalid);
    expect(() => kernels().rope(x, headDim, pos, { nRot: 33 })).toThrow(invalid);
    expect(() => kernels().rope(x, headDim, pos, { nRot: 66 })).toThrow(invalid);
    expect(() => kernels().rope(x, headDim, pos, { mode: "glm" as never })).toThrow(invalid);
    expect(() => kernels().rope(x, headDim, pos, { freqFactors: new Float32Array(3) })).toThrow(invalid);
    expect(() => kernels().rope(x, 7, pos)).toThrow(invalid);
  });
});

// ---------------------------------------------------------------------------------------------
// Activation quantization

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

describe("activation quantization", () => {
  const n = 512;
  const x = gaussian(3 * n, 31, 2);
  x.fill(0, 256, 288); // a zero block
  x[600] = 50; // an outlier
  for (let i = 32; i < 64; i++) x[i] = (i - 48) / 4; // exact halves: ties in x·(127/amax)

  it("q8_0 / q8_1 as llama.cpp's x86 quantize_row_q8_0/1", () => {
    for (const format of ["q8_0", "q8_1"] as const) {
      for (const simd of LEVELS) {
        const a = kernels().quantizeActivations(format, x, n, { simd });
        for (let b = 0; b < x.length / 32; b++) {
          const blk = x.subarray(32 * b, 32 * b + 32);
          const amax = Math.max(...Array.from(blk, Math.abs));
          const d = f(amax / 127), id = amax ? f(127 / amax) : 0;
          let sum = 0;
          for (let j = 0; j < 32; j++) {
            const q = roundHalfEven(f((blk[j] as number) * id));
            sum += q;
            if (a.qs?.[32 * b + j] !== q) throw new Error(`${format} ${simd}: q[${32 * b + j}] = ${a.qs?.[32 * b + j]}, expected ${q}`);
          }
          const dh = halfToFloat(refF16(d));
          expect(a.d?.[b], `${format} d[${b}]`).toBe(f(dh));
          const s = format === "q8_1" ? halfToFloat(refF16(f(d * sum))) : f(dh * sum);
          expect(a.corr?.[b], `${format} corr[${b}]`).toBe(f(s));
        }
      }
    }
  });

  it("q8_K as quantize_row_q8_K_ref", () => {
    for (const simd of LEVELS) {
      const a = kernels().quantizeActivations("q8_K", x, n, { simd });
      for (let b = 0; b < x.length / 256; b++) {
        const blk = x.subarray(256 * b, 256 * b + 256);
        let amax = 0, max = 0;
        for (const v of blk) if (Math.abs(v) > amax) (amax = Math.abs(v)), (max = v);
        const iscale = f(-127 / max);
        for (let j = 0; j < 256; j += 1) {
          const q = Math.min(127, roundHalfEven(f(iscale * (blk[j] as number))));
          if (a.qs?.[256 * b + j] !== q) throw new Error(`q8_K ${simd}: q[${256 * b + j}] = ${a.qs?.[256 * b + j]}, expected ${q}`);
        }
        expect(a.d?.[b]).toBe(f(1 / iscale));
        for (let k = 0; k < 16; k++) {
          let s = 0;
          for (let j = 0; j < 16; j++) s += a.qs?.[256 * b + 16 * k + j] as number;
          expect(a.bsums?.[16 * b + k]).toBe(s);
        }
      }
    }
  });

  it("the block structs hold the same values (llama.cpp's byte layout)", () => {
    const q8 = kernels().quantizeBlocks("q8_0", x);
    const a = kernels().quantizeActivations("q8_0", x, n, { simd: "scalar" });
    const view = new DataView(q8.buffer, q8.byteOffset, q8.byteLength);
    for (let b = 0; b < x.length / 32; b++) {
      expect(f(halfToFloat(view.getUint16(34 * b, true)))).toBe(a.d?.[b]);
      for (let j = 0; j < 32; j++) expect(view.getInt8(34 * b + 2 + j)).toBe(a.qs?.[32 * b + j]);
    }
    const qk = kernels().quantizeBlocks("q8_K", x);
    const ak = kernels().quantizeActivations("q8_K", x, n, { simd: "scalar" });
    const vk = new DataView(qk.buffer, qk.byteOffset, qk.byteLength);
    for (let b = 0; b < x.length / 256; b++) {
      expect(vk.getFloat32(292 * b, true)).toBe(ak.d?.[b]);
      expect(vk.getInt16(292 * b + 260 + 2 * 15, true)).toBe(ak.bsums?.[16 * b + 15]);
    }
  });

  it("f16 / bf16 / f32 activations are the rounded values", () => {
    expect(Array.from(kernels().quantizeActivations("f16", x, n).values ?? [])).toEqual(Array.from(kernels().roundF16(x)));
    expect(Array.from(kernels().quantizeActivations("bf16", x, n).values ?? [])).toEqual(Array.from(kernels().fromBF16(kernels().toBF16(x))));
    expect(Array.from(kernels().quantizeActivations("f32", x, n).values ?? [])).toEqual(Array.from(x));
    expect(() => kernels().quantizeActivations("q8_K", x, 96)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
  });
});

describe("fmaPeak", () => {
  it("measures a positive FLOP rate on each level", () => {
    for (const simd of LEVELS) expect(kernels().fmaPeak({ simd, threads: 1, seconds: 0.05 })).toBeGreaterThan(1e8);
  });
});
