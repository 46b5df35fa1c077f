/**
 * The only file that loads the native addons (src/native-loader.ts finds them):
 * the CPU addon (a local build in build/Release, else the prebuild for this
 * platform), and the optional CUDA addon (shortgpt_cuda.node, the whole engine
 * plus the CUDA backend) only when something asks for it (`cudaAddon()`).
 * Everything else imports from here, so the addon's surface is typed in one place.
 */
import { AbortError, errorCode, ShortgptError } from "./errors.js";
import { existsSync } from "node:fs";

import { addonCandidates, CPU_ADDON, CUDA_ADDON, loadAddon, loadAddonAt } from "./native-loader.js";

/** A tensor as the addon receives it: absolute offset and byte size. */
export interface NativeTensorArg {
  name: string;
  type: number;
  dims: readonly number[];
  offset: number;
  size: number;
}

export interface NativeBuildInfo {
  backends: string[];
  simd: {
    compiled: string[];
    best: string;
    active: string;
    features: Record<string, boolean>;
  };
  compiler: string;
  buildSystem: string;
  napiVersion: number;
}

export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeMappedModel {
  readonly fileSize: number;
  readonly tensorCount: number;
  close(): void;
}

/** The ModelConfig object the native Engine reads (src/arch/model-config.ts builds it). */
export type NativeModelConfig = object;

export interface NativeEngineOptions {
  threads: number;
  /** Precision of K and V in attention: "f16" like llama.cpp's default cache, or "f32". */
  kv: "f16" | "f32";
  memoryBudget: number;
  /** Backend (default "cpu"); "cuda" only in the CUDA addon, else ERR_CUDA_UNAVAILABLE. */
  device?: "cpu" | "cuda";
  /** CUDA device ordinal (default 0). */
  deviceIndex?: number;
  /** Bytes of device memory the CUDA backend may hold; blocks beyond it are streamed. */
  vramBudget?: number;
  /** cuBLAS to open: a file or a folder holding libcublas (searched first). */
  cublasPath?: string;
}

/** The GPU a CUDA engine runs on, as the native backend reports it. */
export interface NativeCudaDeviceInfo {
  readonly index: number;
  readonly name: string;
  readonly totalMemory: number;
  readonly computeCapability: string;
  /** CUDA versions as the runtime reports them (e.g. 13050 for 13.5) or as text. */
  readonly driverVersion: number | string;
  readonly runtimeVersion: number | string;
  readonly cublasVersion: number | string;
  /** The cuBLAS library that was opened. */
  readonly cublasPath?: string;
  /** Blocks whose weights stay in GPU memory, and blocks streamed in per batch (over vramBudget). */
  readonly residentBlocks?: number;
  readonly streamedBlocks?: number;
}

export interface NativeEngineInfo {
  readonly backend: "cpu" | "cuda" | string;
  readonly threads: number;
  readonly simd: string;
  readonly memoryBudget: number;
  /** CUDA engines: the device in use. */
  readonly device?: NativeCudaDeviceInfo;
  /** CUDA engines: the most device memory held so far, in bytes. */
  readonly peakDeviceBytes?: number;
}

/** Hook sums of hiddenStats, as the native engine returns them (see src/model.ts HiddenStats). */
export interface NativeHiddenStats {
  rows: number;
  windows: number;
  spans: number[];
  cosSum: Float64Array;
  relSum: Float64Array;
  spanCosSum: Float64Array;
  spanAngleSum: Float64Array;
  lastCosSum: Float64Array;
  lastAngleSum: Float64Array;
}

/** What the native greedy generation returns (see src/model.ts GenerateResult). */
export interface NativeGenerateResult {
  tokens: Int32Array;
  /** A stop token was sampled (it is not in `tokens`). */
  stopped: boolean;
  prefillSeconds: number;
  decodeSeconds: number;
  /** Forward passes of one token: tokens sampled − 1. */
  decodeSteps: number;
  kvCacheBytes: number;
  /** keepLogits: one row of vocab logits per sampled token (the stop token's too). */
  logits?: Float32Array;
}

export interface NativeEngine {
  readonly info: NativeEngineInfo;
  logits(
    tokens: Int32Array,
    rows: Int32Array,
    skip: Uint8Array,
    cancel?: NativeCancelToken,
    onProgress?: (done: number) => void,
  ): Promise<Float32Array>;
  /** [nll_0, count_0, nll_1, count_1, ...] per chunk. */
  perplexity(
    tokens: Int32Array,
    ctx: number,
    first: number,
    skip: Uint8Array,
    cancel?: NativeCancelToken,
    onProgress?: (done: number) => void,
  ): Promise<Float64Array>;
  hiddenStats(
    tokens: Int32Array,
    lengths: Int32Array,
    spans: Int32Array,
    skip: Uint8Array,
    cancel?: NativeCancelToken,
    onProgress?: (done: number) => void,
  ): Promise<NativeHiddenStats>;
  /**
   * Greedy continuation of `prompt` with a KV cache; `stop` ids end it; prompt + maxTokens must fit
   * in contextLimit. onTokens receives the tokens sampled since its last call, in order.
   */
  generate(
    prompt: Int32Array,
    maxTokens: number,
    stop: Int32Array,
    skip: Uint8Array,
    contextLimit: number,
    keepLogits: boolean,
    cancel?: NativeCancelToken,
    onTokens?: (tokens: Int32Array) => void,
  ): Promise<NativeGenerateResult>;
  /** Sequences of seqLen tokens one batch holds under the memory budget (maxSpan 0: no hooks). */
  sequencesPerBatch(seqLen: number, maxSpan: number): number;
  /** Seconds per step since open or resetProfile(). */
  profile(): Record<string, number>;
  resetProfile(): void;
  close(): void;
}

/** SIMD level for a kernel call; default: the level the addon picked at load (buildInfo().simd.active). */
export type KernelSimd = "scalar" | "avx2" | "avx512";

export interface KernelOptions {
  simd?: KernelSimd;
}

export interface KernelMatmulOptions extends KernelOptions {
  /** Threads of a pool made for the call; default the physical cores. */
  threads?: number;
}

/** A matmul input after conversion to a weight's activation format (as llama.cpp's CPU backend quantizes it). */
export interface KernelActivations {
  /** q8_*: quants, row-major. */
  qs?: Int8Array;
  /** q8_*: scale per 32 (q8_0, q8_1; fp16-rounded) or per 256 (q8_K). */
  d?: Float32Array;
  /** q8_0: d·Σq per 32; q8_1: s per 32 (fp16-rounded); q8_K: d·bsum per 16. */
  corr?: Float32Array;
  /** q8_K: sums of 16 quants. */
  bsums?: Int16Array;
  /** f32 / f16 / bf16: the values after rounding to that type. */
  values?: Float32Array;
}

export interface KernelRopeOptions {
  mode?: "normal" | "neox";
  nRot?: number;
  freqBase?: number;
  freqScale?: number;
  freqFactors?: Float32Array;
  extFactor?: number;
  attnFactor?: number;
  nCtxOrig?: number;
  betaFast?: number;
  betaSlow?: number;
}

/**
 * The CPU kernels (native/cpu), exposed for tests and benchmarks: synchronous, every argument
 * checked (ERR_INVALID_ARG; ERR_UNSUPPORTED_TYPE; ERR_UNSUPPORTED_SIMD for a level the CPU or
 * build lacks). Rows are row-major; `n` is the row length.
 */
export interface NativeKernels {
  /** ggml type ids the kernels read. */
  supportedTypes(): number[];
  weightTypeSupported(type: number): boolean;
  /** Throws ERR_UNSUPPORTED_TYPE naming `tensorName` when the kernels cannot read `type`. */
  requireSupported(type: number, tensorName: string): void;
  physicalCores(): number;
  /** The first n values of `bytes` (a whole number of blocks) as f32. */
  dequantize(type: number, bytes: Uint8Array, n: number): Float32Array;
  quantizeActivations(format: "q8_0" | "q8_1" | "q8_K" | "f16" | "bf16" | "f32", x: Float32Array, n: number, options?: KernelOptions): KernelActivations;
  /** llama.cpp's block_q8_0 / block_q8_1 / block_q8_K bytes for x. */
  quantizeBlocks(format: "q8_0" | "q8_1" | "q8_K", x: Float32Array): Uint8Array;
  /** Y[T×nOut] = X[T×nIn]·Wᵀ, W stored as ggml stores it (nOut rows of nIn elements). */
  matmul(type: number, weight: Uint8Array, nIn: number, nOut: number, x: Float32Array, T: number, options?: KernelMatmulOptions): Float32Array;
  /** Seconds per matmul call (pool and buffers made once; `warmup` calls not timed). */
  matmulBench(
    type: number,
    weight: Uint8Array,
    nIn: number,
    nOut: number,
    x: Float32Array,
    T: number,
    options?: KernelMatmulOptions & { iterations?: number; warmup?: number },
  ): Float64Array;
  /** f32 FMA FLOP/s on `threads` threads for about `seconds`. */
  fmaPeak(options?: KernelMatmulOptions & { seconds?: number }): number;
  rmsnorm(x: Float32Array, n: number, w: Float32Array | null, eps: number, options?: KernelOptions): Float32Array;
  layernorm(x: Float32Array, n: number, w: Float32Array | null, b: Float32Array | null, eps: number): Float32Array;
  /** softmax(x·scale + mask) per row; mask holds n values (all rows) or x.length. */
  softmax(x: Float32Array, n: number, scale: number, mask: Float32Array | null, options?: KernelOptions): Float32Array;
  softcap(x: Float32Array, cap: number): Float32Array;
  /** Rows of headDim, row r rotated for positions[r]. */
  rope(x: Float32Array, headDim: number, positions: Float32Array, options?: KernelRopeOptions): Float32Array;
  unary(op: "silu" | "gelu" | "gelu_f16", x: Float32Array, options?: KernelOptions): Float32Array;
  glu(op: "swiglu" | "geglu" | "geglu_f16", gate: Float32Array, up: Float32Array, options?: KernelOptions): Float32Array;
  binary(op: "add" | "mul", a: Float32Array, b: Float32Array): Float32Array;
  scale(x: Float32Array, s: number): Float32Array;
  toF16(x: Float32Array, options?: KernelOptions): Uint16Array;
  fromF16(h: Uint16Array, options?: KernelOptions): Float32Array;
  toBF16(x: Float32Array): Uint16Array;
  fromBF16(h: Uint16Array): Float32Array;
  /** f32 → f16 → f32: what llama.cpp's F16 KV cache holds. */
  roundF16(x: Float32Array, options?: KernelOptions): Float32Array;
}

export interface NativeAddon {
  buildInfo(): NativeBuildInfo;
  cudaDevices(): CudaStatus | null;
  ggmlTypeTable(): { id: number; name: string; blockElems: number; blockBytes: number }[];
  MappedModel: new (path: string, tensors: readonly NativeTensorArg[]) => NativeMappedModel;
  CancelToken: new () => NativeCancelToken;
  kernels: NativeKernels;
  Engine: new (path: string, tensors: readonly NativeTensorArg[], config: NativeModelConfig, options: NativeEngineOptions) => NativeEngine;
  /** Removes `path` when this JS environment is torn down (a terminated worker) unless released first. */
  TempFileGuard: new (path: string) => { release(): void };
  copyRanges(
    src: string,
    dst: string,
    ranges: Float64Array,
    cancel?: NativeCancelToken,
    onProgress?: (bytesDone: number) => void,
    /** "buffered" forces pread/pwrite instead of copy_file_range (tests cover both paths). */
    method?: "kernel" | "buffered",
  ): Promise<void>;
}

let cached: NativeAddon | undefined;

export function addon(): NativeAddon {
  cached ??= loadAddon<NativeAddon>(CPU_ADDON);
  return cached;
}

/** Set to the CUDA addon file to load that one (and only that one). */
export const CUDA_ADDON_ENV = "SHORTGPT_CUDA_ADDON";

/**
 * Where the CUDA addon is looked for, in order: $SHORTGPT_CUDA_ADDON (a file; when set, the
 * only place), else native-loader's places for CUDA_ADDON: the local build of
 * `npm run build:cuda` (build-cuda/Release/shortgpt_cuda.node), then a CUDA prebuild
 * (prebuilds/<platform>-<arch>/cuda/shortgpt_cuda.node: a folder node-gyp-build's and
 * @electron/rebuild's lookups of the CPU addon never enter), or those under $SHORTGPT_ADDON_DIR.
 */
export function cudaAddonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const file = env[CUDA_ADDON_ENV];
  return file ? [file] : addonCandidates(CUDA_ADDON, env);
}

let cudaCached: { addon: NativeAddon; path: string } | { error: ShortgptError } | undefined;

/**
 * The CUDA addon, loaded on first call (never by anything that runs on the CPU). Throws
 * ERR_CUDA_UNAVAILABLE naming what is missing: no CUDA addon installed (where it was looked
 * for), one that would not load (the loader's reason), or a file without the CUDA backend.
 * The answer is remembered for the process.
 */
export function cudaAddon(): { addon: NativeAddon; path: string } {
  if (!cudaCached) {
    const candidates = cudaAddonCandidates();
    const path = candidates.find((p) => existsSync(p));
    if (path === undefined) {
      cudaCached = {
        error: new ShortgptError(
          "ERR_CUDA_UNAVAILABLE",
          `the CUDA addon (${CUDA_ADDON.built}) is not installed: looked for ${candidates.join(", ") || "(no file location known)"}; build it with \`npm run build:cuda\` or set ${CUDA_ADDON_ENV}`,
        ),
      };
    } else {
      try {
        const loaded = loadAddonAt<NativeAddon>(path);
        if (!loaded.buildInfo().backends.includes("cuda")) throw new Error("it was built without the CUDA backend");
        cudaCached = { addon: loaded, path };
      } catch (error) {
        const why = errorCode(error) === "ERR_ADDON_LOAD" ? (error as Error).message : `${path}: ${(error as Error).message}`;
        cudaCached = { error: new ShortgptError("ERR_CUDA_UNAVAILABLE", `the CUDA addon could not be loaded: ${why}`, { cause: error }) };
      }
    }
  }
  if ("error" in cudaCached) throw cudaCached.error;
  return cudaCached;
}

/** What the CUDA runtime linked into the addon sees (CMake builds with nvcc only). */
export interface CudaStatus {
  /** CUDA runtime version, e.g. 13050 for 13.5. */
  readonly runtimeVersion: number;
  /** Driver's CUDA version; 0 without a driver. */
  readonly driverVersion: number;
  /** Why no device list could be read (no driver, no GPU), else null. */
  readonly error: string | null;
  readonly devices: readonly {
    readonly index: number;
    readonly name: string;
    readonly totalMemory: number;
    readonly computeCapability: string;
    readonly multiprocessors: number;
    /** A probe kernel from this build ran on the device (the build has code for its architecture). */
    readonly runsKernels: boolean;
    readonly kernelError: string | null;
  }[];
}

/**
 * CUDA devices visible to the CUDA addon (see `cudaAddon()`), or null when no CUDA addon is
 * installed or it does not load here (node-gyp builds and the CPU prebuilds have no CUDA;
 * `npm run build:cuda` builds the CUDA addon). Each device runs a tiny probe kernel: call it
 * once, not per operation.
 */
export function cudaDevices(): CudaStatus | null {
  let cuda: NativeAddon;
  try {
    cuda = cudaAddon().addon;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_CUDA_UNAVAILABLE") return null;
    throw error;
  }
  return cuda.cudaDevices();
}

/** Compiled backends, SIMD level in use, compiler and build system of the loaded addon. */
export function buildInfo(): NativeBuildInfo {
  return addon().buildInfo();
}

/**
 * A CancelToken that follows `signal`, made by `from` (the addon whose engine
 * will read it). Call `dispose` when the native call has settled, so the
 * listener does not outlive it.
 */
export function cancelTokenFor(
  signal: AbortSignal | undefined,
  from: NativeAddon = addon(),
): {
  token: NativeCancelToken;
  dispose: () => void;
} {
  const token = new from.CancelToken();
  if (!signal) return { token, dispose: () => {} };
  if (signal.aborted) token.cancel();
  const onAbort = () => token.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  return { token, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/** Throws AbortError (its cause the signal's reason) when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
}

/** Native rejections with code ABORT_ERR become our AbortError, with the reason of the signal that fired. */
export function normalizeNativeError(error: unknown, signal?: AbortSignal): unknown {
  if (error && typeof error === "object" && !(error instanceof AbortError) && (error as { code?: unknown }).code === "ABORT_ERR") {
    return new AbortError(undefined, { cause: signal?.reason });
  }
  return error;
}
