// Each CUDA kernel (native/cuda/kernels.cuh) against its CPU reference, as a list of checks that
// need only the two addons: the CPU addon's `kernels` and the CUDA addon's `cudaKernels`. Plain
// JavaScript, so a GPU machine runs it without the test toolchain (`npm run gpu-check` imports
// it) and test/cuda-kernels.test.ts runs the same checks under vitest.
//
//   import { cudaKernelChecks } from "./scripts/gpu-check/cuda-kernels.mjs";
//   const random = await import("./dist/models/random-blocks.js");   // the test: src/models/random-blocks.ts
//   for (const c of cudaKernelChecks({ cpu: cpuAddon.kernels, cuda: cudaAddon.cudaKernels, random })) {
//     const { ok, detail } = c.run();   // throws only on a native error (e.g. ERR_CUDA_UNAVAILABLE)
//   }
//
// Random blocks and activations come from the package's one generator (src/models/random-blocks.ts),
// passed in, since this file runs both from dist/ (the GPU check) and from src/ (vitest).
//
// What each check demands, and why:
//  - dequantize, every format: bit-identical to the CPU (both run native/cpu/block_values.h,
//    with no fused multiply-add), on random valid blocks including zero, subnormal and 60000
//    scales;
//  - matmul, GEMM and mat-vec paths: within the rounding of the inputs against a float64
//    product of the CPU-dequantized weight (bounds beside the code);
//  - RMSNorm, QK-norm + RoPE, SwiGLU / GeGLU: within a few ulp of the CPU kernels (a double sum
//    in another order), GeGLU's f16 table exact but for rare ties;
//  - attention: within 2e-5 of a float64 reference (causal per sequence, GQA, sliding window,
//    softcap, f16-rounded K and V), head sizes 8 to 256;
//  - compare_rows: within 1e-12 of float64 sums, zero rows as cos 1.

/** The largest |got - want| / bound(i), and where. */
function worst(got, want, bound) {
  let ratio = 0, index = -1;
  for (let i = 0; i < want.length; i++) {
    const q = Math.abs(got[i] - want[i]) / bound(i);
    if (!(q <= ratio)) {
      ratio = q;
      index = i;
    }
  }
  return { ratio, index };
}

function result(ok, detail) {
  return { ok, detail };
}

/** The checks, each { name, run(): { ok, detail } }. */
export function cudaKernelChecks({ cpu, cuda, random }) {
  const checks = [];
  const gaussian = random.gaussianFloats;
  // The formats the CUDA kernels read: every one the generator makes.
  const types = random.RANDOM_BLOCK_TYPES;
  const superBlock = (name) => random.blockElements(name) === 256;

  for (const [i, name] of types.entries()) {
    checks.push({
      name: `dequantize ${name}: bit-identical to the CPU`,
      run() {
        const nIn = superBlock(name) ? 512 : 96;
        const w = random.randomTestBlocks(name, 16, nIn, 300 + i, true);
        const want = cpu.dequantize(w.type, w.bytes, 16 * nIn);
        const got = cuda.dequantize(w.type, w.bytes, 16 * nIn);
        for (let k = 0; k < want.length; k++) {
          if (!Object.is(got[k], want[k])) return result(false, `element ${k}: GPU ${got[k]}, CPU ${want[k]}`);
        }
        return result(true, `${want.length} values equal`);
      },
    });
  }

  for (const [i, name] of types.entries()) {
    checks.push({
      name: `matmul ${name}: GEMM and mat-vec within input rounding of float64`,
      run() {
        const nIn = superBlock(name) ? 512 : 256;
        const nOut = 200; // crosses the 64-row dequantization slices the test surface uses
        const w = random.randomTestBlocks(name, nOut, nIn, 500 + i);
        const wf = cpu.dequantize(w.type, w.bytes, nOut * nIn);
        const details = [];
        let ok = true;
        for (const T of [3, 37]) {
          const x = gaussian(T * nIn, 900 + i * 7 + T);
          const ref = new Float64Array(T * nOut), mag = new Float64Array(T * nOut);
          for (let r = 0; r < T; r++) {
            for (let o = 0; o < nOut; o++) {
              let s = 0, m = 0;
              for (let c = 0; c < nIn; c++) {
                const p = wf[o * nIn + c] * x[r * nIn + c];
                s += p;
                m += Math.abs(p);
              }
              ref[r * nOut + o] = s;
              mag[r * nOut + o] = m;
            }
          }
          for (const path of ["gemm", "matvec"]) {
            const y = cuda.matmul(w.type, w.bytes, nIn, nOut, x, T, { path });
            // GEMM rounds X and (f16 / quantized) W to f16 (bf16 for BF16): each product is off by at
            // most 2u relatively (u = 2^-11, bf16 2^-8); f32 sums add about nIn 2^-24. F32 weights and
            // the mat-vec path keep exact inputs: the f32 sum only.
            const u = path === "matvec" || name === "F32" ? 0 : name === "BF16" ? 2 ** -8 : 2 ** -11;
            const rel = 2 * u + nIn * 2 ** -24;
            const { ratio, index } = worst(y, ref, (k) => rel * mag[k] + 1e-30);
            details.push(`${path} T=${T}: ${ratio.toFixed(3)} of the bound`);
            if (!(ratio <= 1)) {
              ok = false;
              details.push(`element ${index}: ${y[index]} vs ${ref[index]}`);
            }
          }
        }
        return result(ok, details.join("; "));
      },
    });
  }

  checks.push({
    name: "rmsnorm within 2 ulp of the CPU",
    run() {
      for (const n of [64, 576, 4096]) {
        const x = gaussian(5 * n, n, 3), w = gaussian(n, n + 1, 1);
        const want = cpu.rmsnorm(x, n, w, 1e-6, { simd: "scalar" });
        const got = cuda.rmsnorm(x, n, w, 1e-6);
        const { ratio, index } = worst(got, want, (k) => 2 * 2 ** -23 * Math.abs(want[k]) + 1e-38);
        if (!(ratio <= 1)) return result(false, `n=${n} element ${index}: ${got[index]} vs ${want[index]}`);
      }
      return result(true, "n = 64, 576, 4096");
    },
  });

  checks.push({
    name: "QK-norm + RoPE (normal, neox, frequency factors, YaRN) + scale as the CPU",
    run() {
      const heads = 3, hd = 64, rows = 20;
      const r = new random.Rng(77);
      const positions = Int32Array.from({ length: rows }, () => r.int(0, 2999));
      const x = gaussian(rows * heads * hd, 12, 2);
      const normW = gaussian(hd, 13, 0.5).map((v) => 1 + v);
      const ropes = [
        { mode: "normal", nRot: hd, freqBase: 10000 },
        { mode: "neox", nRot: 32, freqBase: 1e6, freqScale: 0.25 },
        { mode: "neox", nRot: hd, freqBase: 500000, freqFactors: Float32Array.from({ length: hd / 2 }, (_, i) => 1 + i / 4) },
        { mode: "neox", nRot: hd, freqBase: 10000, freqScale: 0.25, extFactor: 1, attnFactor: 1, nCtxOrig: 4096 },
      ];
      for (const rope of ropes) {
        const want = new Float32Array(x.length);
        for (let row = 0; row < rows; row++) {
          for (let h = 0; h < heads; h++) {
            const off = (row * heads + h) * hd;
            const normed = cpu.rmsnorm(x.subarray(off, off + hd), hd, normW, 1e-6, { simd: "scalar" });
            const rotated = cpu.rope(normed, hd, Float32Array.of(positions[row]), rope);
            for (let d = 0; d < hd; d++) want[off + d] = Math.fround(rotated[d] * 0.125);
          }
        }
        const got = cuda.qkPrepare(x, heads, hd, { normW, eps: 1e-6, positions, scale: 0.125, rope });
        // The norm's double sum runs in another order (1 ulp on the scale): a few ulp per value.
        const { ratio, index } = worst(got, want, (k) => 4 * 2 ** -23 * Math.abs(want[k]) + 1e-6 * 2 ** -23);
        if (!(ratio <= 1)) return result(false, `${JSON.stringify(rope)} element ${index}: ${got[index]} vs ${want[index]}`);
      }
      return result(true, `${ropes.length} RoPE settings`);
    },
  });

  checks.push({
    name: "SwiGLU within 4 ulp, GeGLU on llama.cpp's f16 table",
    run() {
      const g = gaussian(4096, 31, 6), u = gaussian(4096, 32, 2);
      const sw = cuda.glu("swiglu", g, u);
      const swRef = cpu.glu("swiglu", g, u, { simd: "scalar" });
      const s = worst(sw, swRef, (k) => 4 * 2 ** -23 * Math.abs(swRef[k]) + 1e-38);
      if (!(s.ratio <= 1)) return result(false, `swiglu element ${s.index}: ${sw[s.index]} vs ${swRef[s.index]}`);
      const ge = cuda.glu("geglu", g, u);
      const geRef = cpu.glu("geglu_f16", g, u);
      // gelu of a half, rounded to a half: the device's tanhf may differ from the host's in the last
      // f32 bit, which moves the f16 result one step (|gelu| 2^-10, times |up|) only at a tie.
      let differing = 0;
      for (let k = 0; k < ge.length; k++) {
        if (ge[k] === geRef[k]) continue;
        differing++;
        if (Math.abs(ge[k] - geRef[k]) > Math.abs(geRef[k]) * 2 ** -9 + 1e-30) return result(false, `geglu element ${k}: ${ge[k]} vs ${geRef[k]}`);
      }
      if (differing >= ge.length / 100) return result(false, `geglu differs at ${differing} of ${ge.length} values`);
      return result(true, `geglu equal at ${ge.length - differing} of ${ge.length}`);
    },
  });

  const attentionCases = [
    { name: "one sequence, head 64, GQA 4:2", lengths: [70], nHead: 4, nHeadKv: 2, dk: 64, dv: 64, softcap: 0, window: 0 },
    { name: "three sequences, head 128", lengths: [33, 5, 64], nHead: 2, nHeadKv: 2, dk: 128, dv: 128, softcap: 0, window: 0 },
    { name: "window 16, softcap 3, head 256", lengths: [80], nHead: 2, nHeadKv: 1, dk: 256, dv: 256, softcap: 3, window: 16 },
    { name: "head 8 (stories260K)", lengths: [40, 9], nHead: 8, nHeadKv: 4, dk: 8, dv: 8, softcap: 0, window: 0 },
    { name: "head 96 (phi3)", lengths: [50], nHead: 3, nHeadKv: 3, dk: 96, dv: 96, softcap: 0, window: 0 },
  ];
  for (const c of attentionCases) {
    checks.push({
      name: `attention (${c.name}) within 2e-5 of float64`,
      run() {
        const T = c.lengths.reduce((a, b) => a + b, 0);
        const q = gaussian(T * c.nHead * c.dk, 41), k = gaussian(T * c.nHeadKv * c.dk, 42), v = gaussian(T * c.nHeadKv * c.dv, 43);
        const kqScale = 1 / Math.sqrt(c.dk);
        const got = cuda.attention({ q, k, v, lengths: Int32Array.from(c.lengths), nHead: c.nHead, nHeadKv: c.nHeadKv, dk: c.dk, dv: c.dv, kqScale, softcap: c.softcap, window: c.window, roundF16: true });
        const kr = cpu.roundF16(k), vr = cpu.roundF16(v);
        let maxErr = 0, start = 0;
        for (const len of c.lengths) {
          for (let t = 0; t < len; t++) {
            for (let h = 0; h < c.nHead; h++) {
              const g = Math.floor(h / (c.nHead / c.nHeadKv));
              const scores = [];
              for (let j = 0; j <= t; j++) {
                if (c.window > 0 && t - j >= c.window) continue;
                let dot = 0;
                for (let d = 0; d < c.dk; d++) dot += q[(start + t) * c.nHead * c.dk + h * c.dk + d] * kr[(start + j) * c.nHeadKv * c.dk + g * c.dk + d];
                let s = dot * kqScale;
                if (c.softcap) s = c.softcap * Math.tanh(s / c.softcap);
                scores.push([s, j]);
              }
              const m = Math.max(...scores.map(([s]) => s));
              let sum = 0;
              const out = new Float64Array(c.dv);
              for (const [s, j] of scores) {
                const p = Math.exp(s - m);
                sum += p;
                for (let d = 0; d < c.dv; d++) out[d] += p * vr[(start + j) * c.nHeadKv * c.dv + g * c.dv + d];
              }
              for (let d = 0; d < c.dv; d++) maxErr = Math.max(maxErr, Math.abs(got[(start + t) * c.nHead * c.dv + h * c.dv + d] - out[d] / sum));
            }
          }
          start += len;
        }
        // Averages of unit-scale V rows: f32 scores over <= 256 dims and f32 sums leave about 1e-6,
        // expf / tanhf a few ulp more.
        return result(maxErr < 2e-5, `max |error| ${maxErr.toExponential(2)}`);
      },
    });
  }

  checks.push({
    name: "compare_rows in double, zero rows as cos 1",
    run() {
      const n = 300, rows = 9;
      const a = gaussian(rows * n, 51, 2), b = gaussian(rows * n, 52, 2);
      for (let i = 0; i < n; i++) b[i] = a[i] * 1.5;
      a.fill(0, n, 2 * n);
      b.fill(0, 2 * n, 3 * n);
      const { cos, rel } = cuda.compareRows(a, b, n);
      for (let r = 0; r < rows; r++) {
        let dot = 0, na = 0, nb = 0, nd = 0;
        for (let i = r * n; i < (r + 1) * n; i++) {
          dot += a[i] * b[i];
          na += a[i] * a[i];
          nb += b[i] * b[i];
          nd += (b[i] - a[i]) ** 2;
        }
        const c = na > 0 && nb > 0 ? Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))) : 1;
        const rc = nb > 0 ? Math.sqrt(nd) / Math.sqrt(nb) : nd > 0 ? 1 : 0;
        if (!(Math.abs(cos[r] - c) < 1e-12 && Math.abs(rel[r] - rc) < 1e-12)) return result(false, `row ${r}: cos ${cos[r]} vs ${c}, rel ${rel[r]} vs ${rc}`);
      }
      if (cos[1] !== 1 || rel[2] !== 1) return result(false, "zero rows");
      return result(true, `${rows} rows`);
    },
  });

  return checks;
}
