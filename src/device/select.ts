/**
 * Which backend runs a model: the CPU addon's engine, or the CUDA addon's
 * (loaded only here, only when asked). `device: "auto"` takes CUDA when the
 * CUDA addon loads and a usable GPU and cuBLAS are there, else the CPU, and
 * keeps the reason. The native engine says what is missing with
 * ERR_CUDA_UNAVAILABLE; nothing here guesses at it.
 */
import { cpus, totalmem } from "node:os";

import { addon, cudaAddon, type NativeAddon, type NativeEngine, type NativeEngineInfo, type NativeEngineOptions, type NativeModelConfig, type NativeTensorArg } from "../engine.js";
import { invalidOption } from "../call-options.js";
import { errorCode, ShortgptError } from "../errors.js";
import { pipCublasFolders } from "./cublas.js";

export type Device = "cpu" | "cuda" | "auto";
export const DEVICES: readonly Device[] = ["cpu", "cuda", "auto"];

export interface DeviceOptions {
  /** "cpu" (default), "cuda", or "auto" (CUDA when usable, else the CPU). */
  device?: Device;
  /** CUDA device ordinal (default 0). */
  deviceIndex?: number;
  /**
   * Bytes of GPU memory the model may hold (default: what the device has free, less a
   * reserve). Blocks that do not fit stay in host memory and are streamed in per batch.
   */
  vramBudget?: number;
  /** Where cuBLAS is: a libcublas file or the folder holding it. Searched before $SHORTGPT_CUBLAS_PATH, the system's and pip's. */
  cublasPath?: string;
}

/** The device a model runs on, as the score JSON, the HTML report and bench record it. */
export interface DeviceReport {
  /** The backend that runs the model. */
  readonly backend: "cpu" | "cuda";
  /** What was asked for. */
  readonly requested: Device;
  /** The GPU's name, or the CPU's model name. */
  readonly name: string;
  /** The GPU's memory, or the machine's RAM, in bytes. */
  readonly memoryBytes: number;
  /** CPU: threads and SIMD level in use. */
  readonly threads?: number;
  readonly simd?: string;
  /** CUDA: device ordinal, compute capability, CUDA driver / runtime and cuBLAS versions. */
  readonly index?: number;
  readonly computeCapability?: string;
  readonly driverVersion?: string;
  readonly runtimeVersion?: string;
  readonly cublasVersion?: string;
  /** CUDA: the most GPU memory the engine held so far, in bytes. */
  readonly peakDeviceBytes?: number;
  /** CUDA: the cuBLAS library opened. */
  readonly cublasPath?: string;
  /** CUDA: blocks whose weights stay in GPU memory, and blocks streamed in per batch (beyond vramBudget). */
  readonly residentBlocks?: number;
  readonly streamedBlocks?: number;
  /** `auto` ran on the CPU: why CUDA was not used. */
  readonly fallbackReason?: string;
}

/** How the engine was chosen: what was asked, and why `auto` fell back, if it did. */
export interface DeviceSelection {
  readonly requested: Device;
  readonly fallbackReason?: string;
}

/** Checks the device options; ERR_INVALID_ARG / ERR_UNSUPPORTED_DEVICE name the option and the bad value. */
export function checkDeviceOptions(options: DeviceOptions, call = "openModel"): void {
  const device = options.device ?? "cpu";
  if (!DEVICES.includes(device)) {
    throw new ShortgptError("ERR_UNSUPPORTED_DEVICE", `${call}: options.device '${String(device)}' is not one of ${DEVICES.join(", ")}`);
  }
  const { deviceIndex, vramBudget, cublasPath } = options;
  if (deviceIndex !== undefined && (typeof deviceIndex !== "number" || !Number.isInteger(deviceIndex) || deviceIndex < 0 || deviceIndex > 1023)) {
    throw invalidOption(call, "deviceIndex", "an integer 0..1023", deviceIndex);
  }
  // Below this nothing useful fits: one block of a small model plus activations.
  if (vramBudget !== undefined && (typeof vramBudget !== "number" || !Number.isSafeInteger(vramBudget) || vramBudget < 64 * 1024 * 1024)) {
    throw invalidOption(call, "vramBudget", "a whole number of bytes, at least 64 MiB", vramBudget);
  }
  if (cublasPath !== undefined && (typeof cublasPath !== "string" || cublasPath.length === 0)) {
    throw invalidOption(call, "cublasPath", "a non-empty path", cublasPath);
  }
}

type EngineArgs = [path: string, tensors: readonly NativeTensorArg[], config: NativeModelConfig];
type BaseOptions = Pick<NativeEngineOptions, "threads" | "kv" | "memoryBudget">;

/** cuBLAS was the missing piece (so another cuBLAS may do). */
function missingCublas(error: unknown): boolean {
  return errorCode(error) === "ERR_CUDA_UNAVAILABLE" && /cublas/i.test((error as Error).message);
}

/** An engine the CUDA addon made must run on CUDA (an addon from before the CUDA engine ignores `device`). */
function requireCudaBackend(engine: NativeEngine): NativeEngine {
  const backend = engine.info.backend;
  if (backend === "cuda") return engine;
  engine.close();
  throw new ShortgptError("ERR_CUDA_UNAVAILABLE", `the CUDA addon made a ${backend} engine: it has no CUDA engine (rebuild it with \`npm run build:cuda\`)`);
}

/**
 * A CUDA engine, or ERR_CUDA_UNAVAILABLE. When the native search finds no cuBLAS and the
 * caller named none, pip's nvidia-cublas installs are tried before giving up.
 */
function openCudaEngine(args: EngineArgs, base: BaseOptions, options: DeviceOptions): { engine: NativeEngine; addon: NativeAddon } {
  const cuda = cudaAddon().addon;
  const native: NativeEngineOptions = {
    ...base,
    device: "cuda",
    deviceIndex: options.deviceIndex ?? 0,
    ...(options.vramBudget !== undefined ? { vramBudget: options.vramBudget } : {}),
    ...(options.cublasPath !== undefined ? { cublasPath: options.cublasPath } : {}),
  };
  try {
    return { engine: requireCudaBackend(new cuda.Engine(...args, native)), addon: cuda };
  } catch (error) {
    if (options.cublasPath !== undefined || process.env.SHORTGPT_CUBLAS_PATH || !missingCublas(error)) throw error;
    const tried: string[] = [];
    for (const folder of pipCublasFolders()) {
      try {
        return { engine: requireCudaBackend(new cuda.Engine(...args, { ...native, cublasPath: folder })), addon: cuda };
      } catch (retry) {
        if (!missingCublas(retry)) throw retry;
        tried.push(folder);
      }
    }
    if (tried.length === 0) throw error;
    throw new ShortgptError("ERR_CUDA_UNAVAILABLE", `${(error as Error).message}; pip's cuBLAS in ${tried.join(", ")} did not load either`, { cause: error });
  }
}

/** Opens the native engine on the device the options ask for. */
export function openEngine(
  args: EngineArgs,
  base: BaseOptions,
  options: DeviceOptions,
): { engine: NativeEngine; addon: NativeAddon; selection: DeviceSelection } {
  checkDeviceOptions(options);
  const requested = options.device ?? "cpu";
  if (requested === "cuda") return { ...openCudaEngine(args, base, options), selection: { requested } };
  let fallbackReason: string | undefined;
  if (requested === "auto") {
    try {
      return { ...openCudaEngine(args, base, options), selection: { requested } };
    } catch (error) {
      if (errorCode(error) !== "ERR_CUDA_UNAVAILABLE") throw error;
      fallbackReason = (error as Error).message;
    }
  }
  const cpu = addon();
  return {
    engine: new cpu.Engine(...args, { ...base, device: "cpu" }),
    addon: cpu,
    selection: { requested, ...(fallbackReason !== undefined ? { fallbackReason } : {}) },
  };
}

/** A CUDA version number as text: 13050 -> "13.5" (driver, runtime), 130100 -> "13.1.0" (cuBLAS). */
export function cudaVersionText(version: number | string | undefined): string | undefined {
  if (version === undefined) return undefined;
  if (typeof version === "string") return version;
  if (!Number.isFinite(version) || version <= 0) return String(version);
  // cuBLAS: major·10000 + minor·100 + patch (12.0 onwards); CUDA: major·1000 + minor·10.
  if (version >= 100_000) return `${Math.floor(version / 10_000)}.${Math.floor((version % 10_000) / 100)}.${version % 100}`;
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}

/** The report of an engine's device (read when asked: peakDeviceBytes grows as the engine runs). */
export function deviceReport(info: NativeEngineInfo, selection: DeviceSelection): DeviceReport {
  const fallback = selection.fallbackReason !== undefined ? { fallbackReason: selection.fallbackReason } : {};
  if (info.backend === "cuda" && info.device) {
    const d = info.device;
    return {
      backend: "cuda",
      requested: selection.requested,
      name: d.name,
      memoryBytes: d.totalMemory,
      index: d.index,
      computeCapability: d.computeCapability,
      driverVersion: cudaVersionText(d.driverVersion)!,
      runtimeVersion: cudaVersionText(d.runtimeVersion)!,
      cublasVersion: cudaVersionText(d.cublasVersion)!,
      ...(info.peakDeviceBytes !== undefined ? { peakDeviceBytes: info.peakDeviceBytes } : {}),
      ...(d.cublasPath !== undefined ? { cublasPath: d.cublasPath } : {}),
      ...(d.residentBlocks !== undefined ? { residentBlocks: d.residentBlocks } : {}),
      ...(d.streamedBlocks !== undefined ? { streamedBlocks: d.streamedBlocks } : {}),
      ...fallback,
    };
  }
  return {
    backend: "cpu",
    requested: selection.requested,
    name: cpus()[0]?.model.trim() || "unknown CPU",
    memoryBytes: totalmem(),
    threads: info.threads,
    simd: info.simd,
    ...fallback,
  };
}
