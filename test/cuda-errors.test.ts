/**
 * Device selection and the CUDA backend's failure paths that need no GPU:
 * the CPU addon refuses device 'cuda' with ERR_CUDA_UNAVAILABLE; the CUDA
 * addon (when built) runs the CPU backend bit for bit like the CPU addon,
 * and on a machine without a usable GPU answers device 'cuda' and its kernel
 * calls with ERR_CUDA_UNAVAILABLE naming what is missing; cuBLAS is looked
 * for in the documented order and a failure lists every place tried.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { addon } from "../src/engine.js";
import { writeRandomModel } from "../src/models/random-model.js";
import { cudaAddon, cudaAddonPath, gpuSkipReason, nativeEngine } from "./helpers/cuda-addon.js";
import { REPO_ROOT } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-cuda-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spec = { architecture: "llama", embd: 64, vocab: 96, blocks: 3, heads: 4, headsKv: 2, ff: 96, weights: "F32", seed: 3 } as const;
const modelPath = join(dir, "tiny.gguf");
writeRandomModel(spec, modelPath);

function codeOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error("expected an error");
}

describe("device selection in the CPU addon", () => {
  it("refuses device 'cuda' with ERR_CUDA_UNAVAILABLE saying the addon has no CUDA", () => {
    const e = codeOf(() => nativeEngine(addon(), modelPath, { device: "cuda" }));
    expect(e.code).toBe("ERR_CUDA_UNAVAILABLE");
    expect(e.message).toMatch(/built without CUDA/);
  });

  it("checks the device options", () => {
    expect(codeOf(() => nativeEngine(addon(), modelPath, { device: "gpu" as "cuda" })).code).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => nativeEngine(addon(), modelPath, { deviceIndex: -1 })).code).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => nativeEngine(addon(), modelPath, { vramBudget: -5 })).code).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => nativeEngine(addon(), modelPath, { cublasPath: 3 as unknown as string })).code).toBe("ERR_INVALID_ARG");
  });

  it("reports the CPU backend and no device; cudaKernels is null", () => {
    const engine = nativeEngine(addon(), modelPath, { device: "cpu" });
    const info = engine.info as unknown as Record<string, unknown>;
    expect(info.backend).toBe("cpu");
    expect(info.device).toBeUndefined();
    expect(info.peakDeviceBytes).toBeUndefined();
    engine.close();
    expect((addon() as unknown as { cudaKernels: unknown }).cudaKernels).toBeNull();
  });
});

describe.skipIf(!cudaAddon())("the CUDA addon without a GPU", () => {
  it("runs the CPU backend exactly like the CPU addon", async () => {
    const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 37) % spec.vocab);
    const rows = Int32Array.from({ length: 40 }, (_, i) => i);
    const skip = new Uint8Array(spec.blocks);
    const a = nativeEngine(addon(), modelPath);
    const b = nativeEngine(cudaAddon()!, modelPath);
    try {
      const la = await a.logits(ids, rows, skip);
      const lb = await b.logits(ids, rows, skip);
      expect(lb.length).toBe(la.length);
      let same = true;
      for (let i = 0; i < la.length; i++) if (la[i] !== lb[i]) same = false;
      expect(same, "CPU logits from the CUDA addon equal the CPU addon's bit for bit").toBe(true);
      expect((b.info as unknown as Record<string, unknown>).backend).toBe("cpu");
    } finally {
      a.close();
      b.close();
    }
  });

  it.skipIf(gpuSkipReason() === null)("answers device 'cuda' with ERR_CUDA_UNAVAILABLE naming the missing driver or device", () => {
    console.log(`[cuda-errors] ${cudaAddonPath()}: ${gpuSkipReason()}`);
    const e = codeOf(() => nativeEngine(cudaAddon()!, modelPath, { device: "cuda" }));
    expect(e.code).toBe("ERR_CUDA_UNAVAILABLE");
    expect(e.message).toMatch(/driver|device/i);
    const k = codeOf(() => cudaAddon()!.cudaKernels!.dequantize(8, new Uint8Array(34), 32));
    expect(k.code).toBe("ERR_CUDA_UNAVAILABLE");
  });

  it("looks for cuBLAS in the documented order", () => {
    const kernels = cudaAddon()!.cudaKernels!;
    const saved = process.env.SHORTGPT_CUBLAS_PATH;
    process.env.SHORTGPT_CUBLAS_PATH = dir;  // an existing folder: its .so.13, then .so.12
    try {
      const c = kernels.cublasCandidates("/opt/custom/libcublas.so.13");
      expect(c.slice(0, 5)).toEqual([
        "/opt/custom/libcublas.so.13",
        `${dir}/libcublas.so.13`,
        `${dir}/libcublas.so.12`,
        "libcublas.so.13",
        "libcublas.so.12",
      ]);
    } finally {
      if (saved === undefined) delete process.env.SHORTGPT_CUBLAS_PATH;
      else process.env.SHORTGPT_CUBLAS_PATH = saved;
    }
  });

  it("names every place it tried when cuBLAS cannot be loaded", () => {
    // A fresh process, so no cuBLAS loaded earlier answers for the bare soname.
    const script = `
      const a = require(${JSON.stringify(cudaAddonPath())});
      try { const r = a.cudaKernels.loadCublas("/nonexistent/cublas-dir/libcublas.so.13"); console.log(JSON.stringify({ ok: r })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, LD_LIBRARY_PATH: "", SHORTGPT_CUBLAS_PATH: "" } }).trim()) as {
      ok?: { path: string };
      code?: string;
      message?: string;
    };
    if (out.ok) {
      // This machine has cuBLAS installed where the loader looks: it must not claim the missing path.
      console.log(`[cuda-errors] cuBLAS found at ${out.ok.path}`);
      expect(out.ok.path).not.toContain("/nonexistent/");
    } else {
      expect(out.code).toBe("ERR_CUDA_UNAVAILABLE");
      expect(out.message).toContain("/nonexistent/cublas-dir/libcublas.so.13");
      expect(out.message).toMatch(/libcublas\.so\.13 \(/);
      expect(out.message).toMatch(/pip install nvidia-cublas/);
    }
  });

  const wheel = join(REPO_ROOT, ".cache", "cublas-13.10", "nvidia", "cu13", "lib");
  it.skipIf(!existsSync(wheel))("loads cuBLAS from a pip wheel's folder (nvidia-cublas 13.10 unpacked in .cache) with every symbol", () => {
    const r = cudaAddon()!.cudaKernels!.loadCublas(wheel);
    expect(r.path).toBe(join(wheel, "libcublas.so.13"));
    expect(r.version).toBe(131000);
  });
});
