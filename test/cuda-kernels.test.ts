/**
 * Each CUDA kernel (native/cuda/kernels.cuh) against its CPU reference, on a
 * GPU (skipped with the reason when this machine has none or no CUDA addon
 * is built):
 *
 *  - dequantization of every supported format: bit-identical to the CPU's
 *    (both run cpu/block_values.h, with no fused multiply-add);
 *  - the matmul's two paths (cuBLAS GEMM on f16/bf16/f32, quantized mat-vec)
 *    against a float64 product of the CPU-dequantized weight, within the
 *    rounding of its inputs (stated per path below);
 *  - RMSNorm, QK-norm + RoPE, SwiGLU / GeGLU against the CPU kernels;
 *  - attention against a float64 reference (causal, GQA, window, softcap);
 *  - compare_rows against float64 sums.
 */
import { describe, expect, it } from "vitest";

import { cudaAddon, gpuSkipReason, type CudaKernels } from "./helpers/cuda-addon.js";
import { gaussian, kernels, randomWeights, rng, typeInfo } from "./fixtures/kernels/support.js";

const reason = gpuSkipReason();
if (reason) console.warn(`[cuda-kernels] skipped: ${reason}`);

function cuda(): CudaKernels {
  return cudaAddon()!.cudaKernels!;
}

const TYPES = ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"];

/** The largest |got - want| / bound over elements (<= 1 passes). */
function worstRatio(got: ArrayLike<number>, want: ArrayLike<number>, bound: (i: number) => number): { ratio: number; index: number } {
  let ratio = 0, index = -1;
  for (let i = 0; i < want.length; i++) {
    const r = Math.abs((got[i] as number) - (want[i] as number)) / bound(i);
    if (!(r <= ratio)) {
      ratio = r;
      index = i;
    }
  }
  return { ratio, index };
}

describe.skipIf(reason !== null)(`CUDA kernels vs their CPU references${reason ? ` (skipped: ${reason})` : ""}`, () => {
  describe("dequantize: bit-identical to the CPU for every format", () => {
    for (const [i, name] of TYPES.entries()) {
      it(name, () => {
        const t = typeInfo(name);
        const nIn = t.blockElems === 256 ? 512 : 96;
        // Random valid blocks with extreme scales too (zero, subnormal, 60000): no Python needed on a GPU machine.
        const rows = randomWeights(name, 16, nIn, 300 + i, true);
        const want = kernels().dequantize(rows.type, rows.bytes, rows.rows * nIn);
        const got = cuda().dequantize(rows.type, rows.bytes, rows.rows * nIn);
        for (let k = 0; k < want.length; k++) {
          if (!Object.is(got[k], want[k])) throw new Error(`${name}: element ${k} is ${got[k]} on the GPU, ${want[k]} on the CPU`);
        }
      });
    }
  });

  describe("matmul: GEMM and mat-vec vs a float64 product of the dequantized weight", () => {
    // GEMM: X and (for quantized / f16) W are rounded to f16 (bf16 for BF16), each product then
    // carries a relative error of at most 2 u (u = 2^-11, bf16 2^-8), the f32 sum adds about
    // nIn * 2^-24 relatively: bound = (2u + nIn 2^-24) * sum |w x| + 1e-30. F32 weights stay f32.
    // Mat-vec: the exact dequantized weights and X, f32 fused accumulation: nIn 2^-24 * sum |w x|.
    for (const [i, name] of TYPES.entries()) {
      it(name, () => {
        const t = typeInfo(name);
        const nIn = t.blockElems === 256 ? 512 : 256;
        const nOut = 200;  // crosses the test's 64-row dequantization slices
        const w = randomWeights(name, nOut, nIn, 500 + i);
        const wf = kernels().dequantize(w.type, w.bytes, nOut * nIn);
        for (const T of [3, 37]) {
          const x = gaussian(T * nIn, 900 + i * 7 + T);
          const ref = new Float64Array(T * nOut), mag = new Float64Array(T * nOut);
          for (let r = 0; r < T; r++) {
            for (let o = 0; o < nOut; o++) {
              let s = 0, m = 0;
              for (let c = 0; c < nIn; c++) {
                const p = (wf[o * nIn + c] as number) * (x[r * nIn + c] as number);
                s += p;
                m += Math.abs(p);
              }
              ref[r * nOut + o] = s;
              mag[r * nOut + o] = m;
            }
          }
          for (const path of ["gemm", "matvec"] as const) {
            const y = cuda().matmul(w.type, w.bytes, nIn, nOut, x, T, { path });
            const u = path === "matvec" || name === "F32" ? 0 : name === "BF16" ? 2 ** -8 : 2 ** -11;
            const rel = 2 * u + nIn * 2 ** -24;
            const { ratio, index } = worstRatio(y, ref, (k) => rel * (mag[k] as number) + 1e-30);
            expect(ratio, `${name} ${path} T=${T}: element ${index} ${y[index]} vs ${ref[index]}`).toBeLessThanOrEqual(1);
          }
        }
      });
    }
  });

  it("rmsnorm within 2 ulp of the CPU kernel (double sum in another order)", () => {
    for (const n of [64, 576, 4096]) {
      const x = gaussian(5 * n, n, 3);
      const w = gaussian(n, n + 1, 1);
      const want = kernels().rmsnorm(x, n, w, 1e-6, { simd: "scalar" });
      const got = cuda().rmsnorm(x, n, w, 1e-6);
      const { ratio, index } = worstRatio(got, want, (k) => 2 * 2 ** -23 * Math.abs(want[k] as number) + 1e-38);
      expect(ratio, `n=${n} element ${index}`).toBeLessThanOrEqual(1);
    }
  });

  it("QK-norm, RoPE (normal, neox, frequency factors, YaRN) and scale as the CPU kernels compute them", () => {
    const heads = 3, hd = 64, rows = 20;
    const r = rng(77);
    const positions = Int32Array.from({ length: rows }, () => Math.floor(r() * 3000));
    const x = gaussian(rows * heads * hd, 12, 2);
    const normW = gaussian(hd, 13, 0.5).map((v) => 1 + v);
    const ropes = [
      { mode: "normal", nRot: hd, freqBase: 10000 },
      { mode: "neox", nRot: 32, freqBase: 1e6, freqScale: 0.25 },
      { mode: "neox", nRot: hd, freqBase: 500000, freqFactors: Float32Array.from({ length: hd / 2 }, (_, i) => 1 + i / 4) },
      { mode: "neox", nRot: hd, freqBase: 10000, freqScale: 0.25, extFactor: 1, attnFactor: 1, nCtxOrig: 4096 },
    ];
    for (const rope of ropes) {
      // CPU: rmsnorm per head (scalar), rope per head, then the scale.
      const want = new Float32Array(x.length);
      for (let row = 0; row < rows; row++) {
        for (let h = 0; h < heads; h++) {
          const off = (row * heads + h) * hd;
          const normed = kernels().rmsnorm(x.subarray(off, off + hd), hd, normW, 1e-6, { simd: "scalar" });
          const rotated = kernels().rope(normed, hd, Float32Array.of(positions[row]!), rope as never);
          for (let d = 0; d < hd; d++) want[off + d] = Math.fround((rotated[d] as number) * 0.125);
        }
      }
      const got = cuda().qkPrepare(x, heads, hd, { normW, eps: 1e-6, positions, scale: 0.125, rope });
      // The norm's double sum runs in another order (1 ulp on the scale), so values may differ by a few ulp.
      const { ratio, index } = worstRatio(got, want, (k) => 4 * 2 ** -23 * Math.abs(want[k] as number) + 1e-6 * 2 ** -23);
      expect(ratio, `${JSON.stringify(rope)} element ${index}`).toBeLessThanOrEqual(1);
    }
  });

  it("SwiGLU within 4 ulp and GeGLU through llama.cpp's f16 table exactly, as the CPU kernels", () => {
    const g = gaussian(4096, 31, 6);
    const u = gaussian(4096, 32, 2);
    const sw = cuda().glu("swiglu", g, u);
    const swRef = kernels().glu("swiglu", g, u, { simd: "scalar" });
    const { ratio } = worstRatio(sw, swRef, (k) => 4 * 2 ** -23 * Math.abs(swRef[k] as number) + 1e-38);
    expect(ratio).toBeLessThanOrEqual(1);
    const ge = cuda().glu("geglu", g, u);
    const geRef = kernels().glu("geglu_f16", g, u);
    // gelu of a half rounded to a half: device tanhf can differ from the host's in the last f32 bit,
    // which changes the f16 result only at a rounding tie: allow one f16 step on a few elements.
    let differing = 0;
    for (let k = 0; k < ge.length; k++) {
      if (ge[k] !== geRef[k]) {
        differing++;
        // One f16 step of gelu(g) is at most |gelu(g)| 2^-10, times |up|: |geRef| 2^-10 (2^-9 for its own rounding).
        expect(Math.abs((ge[k] as number) - (geRef[k] as number))).toBeLessThanOrEqual(Math.abs(geRef[k] as number) * 2 ** -9 + 1e-30);
      }
    }
    expect(differing).toBeLessThan(ge.length / 100);
  });

  describe("attention vs float64 (causal within each sequence, GQA, sliding window, softcap, f16 K/V)", () => {
    const cases = [
      { name: "one sequence, head 64, GQA 4:2", lengths: [70], nHead: 4, nHeadKv: 2, dk: 64, dv: 64, softcap: 0, window: 0 },
      { name: "three sequences, head 128", lengths: [33, 5, 64], nHead: 2, nHeadKv: 2, dk: 128, dv: 128, softcap: 0, window: 0 },
      { name: "window 16 and softcap 3 (gemma2-like), head 256", lengths: [80], nHead: 2, nHeadKv: 1, dk: 256, dv: 256, softcap: 3, window: 16 },
      { name: "head 8 (stories260K)", lengths: [40, 9], nHead: 8, nHeadKv: 4, dk: 8, dv: 8, softcap: 0, window: 0 },
      { name: "head 96 (phi3)", lengths: [50], nHead: 3, nHeadKv: 3, dk: 96, dv: 96, softcap: 0, window: 0 },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const T = c.lengths.reduce((a, b) => a + b, 0);
        const q = gaussian(T * c.nHead * c.dk, 41, 1);
        const k = gaussian(T * c.nHeadKv * c.dk, 42, 1);
        const v = gaussian(T * c.nHeadKv * c.dv, 43, 1);
        const kqScale = 1 / Math.sqrt(c.dk);
        const got = cuda().attention({ q, k, v, lengths: Int32Array.from(c.lengths), nHead: c.nHead, nHeadKv: c.nHeadKv, dk: c.dk, dv: c.dv, kqScale, softcap: c.softcap, window: c.window, roundF16: true });
        const kr = Float64Array.from(kernels().roundF16(k)), vr = Float64Array.from(kernels().roundF16(v));
        let worst = 0, start = 0;
        for (const len of c.lengths) {
          for (let t = 0; t < len; t++) {
            for (let h = 0; h < c.nHead; h++) {
              const g = Math.floor(h / (c.nHead / c.nHeadKv));
              const s: number[] = [];
              for (let j = 0; j <= t; j++) {
                if (c.window > 0 && t - j >= c.window) continue;
                let dot = 0;
                for (let d = 0; d < c.dk; d++) dot += (q[(start + t) * c.nHead * c.dk + h * c.dk + d] as number) * (kr[(start + j) * c.nHeadKv * c.dk + g * c.dk + d] as number);
                let sc = dot * kqScale;
                if (c.softcap) sc = c.softcap * Math.tanh(sc / c.softcap);
                s.push(sc, j);
              }
              let m = -Infinity;
              for (let i = 0; i < s.length; i += 2) m = Math.max(m, s[i]!);
              let sum = 0;
              const out = new Float64Array(c.dv);
              for (let i = 0; i < s.length; i += 2) {
                const p = Math.exp(s[i]! - m);
                sum += p;
                const j = s[i + 1]!;
                for (let d = 0; d < c.dv; d++) out[d]! += p * (vr[(start + j) * c.nHeadKv * c.dv + g * c.dv + d] as number);
              }
              for (let d = 0; d < c.dv; d++) {
                const want = out[d]! / sum;
                const have = got[(start + t) * c.nHead * c.dv + h * c.dv + d] as number;
                worst = Math.max(worst, Math.abs(have - want));
              }
            }
          }
          start += len;
        }
        // Outputs are averages of unit-scale V rows; f32 scores over <= 256 dims and f32 sums
        // leave errors near 1e-6; 2e-5 leaves room for expf and tanhf's few ulp.
        expect(worst, c.name).toBeLessThan(2e-5);
      });
    }
  });

  it("compare_rows: cos and relative change in double, zero rows as cos 1", () => {
    const n = 300, rows = 9;
    const a = gaussian(rows * n, 51, 2), b = gaussian(rows * n, 52, 2);
    for (let i = 0; i < n; i++) b[i] = a[i]! * 1.5;  // row 0: same direction
    a.fill(0, n, 2 * n);                               // row 1: a is zero
    b.fill(0, 2 * n, 3 * n);                           // row 2: b is zero
    const { cos, rel } = cuda().compareRows(a, b, n);
    for (let r = 0; r < rows; r++) {
      let dot = 0, na = 0, nb = 0, nd = 0;
      for (let i = r * n; i < (r + 1) * n; i++) {
        const x = a[i]!, y = b[i]!;
        dot += x * y;
        na += x * x;
        nb += y * y;
        nd += (y - x) ** 2;
      }
      const c = na > 0 && nb > 0 ? Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))) : 1;
      const rc = nb > 0 ? Math.sqrt(nd) / Math.sqrt(nb) : nd > 0 ? 1 : 0;
      expect(Math.abs(cos[r]! - c), `row ${r} cos`).toBeLessThan(1e-12);
      expect(Math.abs(rel[r]! - rc), `row ${r} rel`).toBeLessThan(1e-12);
    }
    expect(cos[0]).toBeCloseTo(1, 12);
    expect(cos[1]).toBe(1);
    expect(rel[2]).toBe(1);
  });
});
