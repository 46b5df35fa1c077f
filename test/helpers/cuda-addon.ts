/**
 * The CUDA addon for tests: the one src/engine.ts's cudaAddon() finds (it is a separate file
 * from the CPU addon), and what this machine can run with it. Tests that need a GPU skip with
 * the reason this gives when there is none.
 *
 * Where it is looked for: $SHORTGPT_CUDA_ADDON, then build-cuda/Release/shortgpt_cuda.node
 * (`npm run build:cuda`), then a CUDA prebuild (src/native-loader.ts's CUDA_ADDON).
 */
import { existsSync } from "node:fs";

import { modelConfig } from "../../src/arch/model-config.js";
import { cudaAddon as loadCudaAddon, cudaAddonCandidates, type NativeAddon, type NativeEngine } from "../../src/engine.js";
import { readGguf } from "../../src/gguf/read.js";

/** What cudaKernels (the CUDA addon's kernel test surface) offers; null in the CPU addon. */
export interface CudaKernels {
  dequantize(type: number, bytes: Uint8Array, n: number): Float32Array;
  matmul(type: number, weight: Uint8Array, nIn: number, nOut: number, x: Float32Array, T: number, options?: { path?: "auto" | "gemm" | "matvec"; cublasPath?: string }): Float32Array;
  rmsnorm(x: Float32Array, n: number, w: Float32Array | null, eps: number): Float32Array;
  qkPrepare(
    x: Float32Array,
    heads: number,
    headDim: number,
    options: { normW?: Float32Array; eps?: number; positions: Int32Array; scale?: number; rope?: Record<string, unknown> },
  ): Float32Array;
  glu(op: "swiglu" | "geglu", gate: Float32Array, up: Float32Array): Float32Array;
  attention(c: {
    q: Float32Array;
    k: Float32Array;
    v: Float32Array;
    lengths: Int32Array;
    nHead: number;
    nHeadKv: number;
    dk: number;
    dv: number;
    kqScale: number;
    softcap?: number;
    window?: number;
    roundF16?: boolean;
  }): Float32Array;
  compareRows(a: Float32Array, b: Float32Array, n: number): { cos: Float64Array; rel: Float64Array };
  loadCublas(path?: string): { path: string; version: number };
  cublasCandidates(path?: string): string[];
}

export type CudaAddon = NativeAddon & { cudaKernels: CudaKernels | null };

export function cudaAddonPath(): string | undefined {
  return cudaAddonCandidates().find((p) => existsSync(p));
}

let loaded: CudaAddon | null | undefined;

/** The CUDA addon, or null when none is built (or the file found is a CPU build). */
export function cudaAddon(): CudaAddon | null {
  if (loaded === undefined) {
    loaded = null;
    try {
      const addon = loadCudaAddon().addon as CudaAddon;
      if (addon.cudaKernels) loaded = addon;
    } catch {
      // ERR_CUDA_UNAVAILABLE: none built, or it would not load; gpuSkipReason says so.
    }
  }
  return loaded;
}

/** Why GPU tests cannot run here, or null when a CUDA device ran this build's probe kernel. */
export function gpuSkipReason(): string | null {
  const addon = cudaAddon();
  if (!addon) return "no CUDA addon built (npm run build:cuda, or set SHORTGPT_CUDA_ADDON)";
  const status = addon.cudaDevices();
  if (!status) return "the addon found has no CUDA";
  if (status.error) return `no usable CUDA device: ${status.error}`;
  const device = status.devices[0];
  if (!device) return "no CUDA device";
  if (!device.runsKernels) return `device 0 (${device.name}) cannot run this build's kernels: ${device.kernelError}`;
  return null;
}

export interface NativeEngineOptions {
  threads?: number;
  kv?: "f16" | "f32";
  memoryBudget?: number;
  device?: "cpu" | "cuda";
  deviceIndex?: number;
  vramBudget?: number;
  cublasPath?: string;
}

/** A native Engine on `path` from the given addon, as openModel makes one. */
export function nativeEngine(addon: NativeAddon, path: string, options: NativeEngineOptions = {}): NativeEngine {
  const file = readGguf(path);
  const config = modelConfig(file);
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, offset: t.offset, size: t.size }));
  const Engine = addon.Engine as unknown as new (p: string, t: unknown, c: unknown, o: unknown) => NativeEngine;
  return new Engine(path, tensors, config, { threads: 2, kv: "f16", memoryBudget: 64 << 20, ...options });
}
