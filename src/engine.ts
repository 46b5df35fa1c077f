/**
 * The only file that loads the native addon (node-gyp-build: a prebuild for
 * this platform, else build/Release). Everything else imports from here, so
 * the addon's surface is typed in one place.
 */
import { createRequire } from "node:module";

import { AbortError } from "./errors.js";
import { PACKAGE_ROOT } from "./package-info.js";

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

export interface NativeAddon {
  buildInfo(): NativeBuildInfo;
  ggmlTypeTable(): { id: number; name: string; blockElems: number; blockBytes: number }[];
  MappedModel: new (path: string, tensors: readonly NativeTensorArg[]) => NativeMappedModel;
  CancelToken: new () => NativeCancelToken;
  copyRanges(
    src: string,
    dst: string,
    ranges: Float64Array,
    cancel?: NativeCancelToken,
    onProgress?: (bytesDone: number) => void,
  ): Promise<void>;
}

let cached: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const load = require("node-gyp-build") as (dir: string) => NativeAddon;
    cached = load(PACKAGE_ROOT);
  }
  return cached;
}

/** Compiled backends, SIMD level in use, compiler and build system of the loaded addon. */
export function buildInfo(): NativeBuildInfo {
  return addon().buildInfo();
}

/**
 * A CancelToken that follows `signal`. Call `dispose` when the native call has
 * settled, so the listener does not outlive it.
 */
export function cancelTokenFor(signal: AbortSignal | undefined): {
  token: NativeCancelToken;
  dispose: () => void;
} {
  const token = new (addon().CancelToken)();
  if (!signal) return { token, dispose: () => {} };
  if (signal.aborted) token.cancel();
  const onAbort = () => token.cancel();
  signal.addEventListener("abort", onAbort, { once: true });
  return { token, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/** Throws AbortError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError();
}

/** Native rejections with code ABORT_ERR become our AbortError. */
export function normalizeNativeError(error: unknown): unknown {
  if (error && typeof error === "object" && (error as { code?: unknown }).code === "ABORT_ERR") {
    return new AbortError();
  }
  return error;
}
