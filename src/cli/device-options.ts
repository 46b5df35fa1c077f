/**
 * `--device`, `--vram-budget` and `--cublas`: where every command that runs a
 * model runs it. The default is `auto`: the GPU when the CUDA addon, a usable
 * GPU and cuBLAS are there, else the CPU (the output says which, and why).
 */
import { InvalidArgumentError, type Command } from "commander";

import type { Device, DeviceOptions } from "../device/select.js";

export interface DeviceFlags {
  device: string;
  vramBudget?: number;
  cublas?: string;
}

export const DEFAULT_CLI_DEVICE = "auto";

/** cpu | cuda | cuda:N | auto. */
export function parseDeviceFlag(value: string): string {
  if (!/^(cpu|auto|cuda(:\d{1,4})?)$/.test(value)) {
    throw new InvalidArgumentError(`--device must be cpu, cuda, cuda:N (the GPU's index) or auto, got '${value}'`);
  }
  return value;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 2 ** 10,
  kib: 2 ** 10,
  kb: 1e3,
  m: 2 ** 20,
  mib: 2 ** 20,
  mb: 1e6,
  g: 2 ** 30,
  gib: 2 ** 30,
  gb: 1e9,
  t: 2 ** 40,
  tib: 2 ** 40,
  tb: 1e12,
};

/** "24GiB", "24G" (binary), "24GB" (decimal), "1.5GiB", or bytes. */
export function parseByteSize(name: string): (value: string) => number {
  return (value: string) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new InvalidArgumentError(`${name} must be a size such as 20GiB, 512MiB or a number of bytes, got '${value}'`);
    const bytes = Math.floor(Number(m[1]) * unit);
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InvalidArgumentError(`${name} is out of range: '${value}'`);
    return bytes;
  };
}

export function addDeviceOptions(command: Command): Command {
  return command
    .option("--device <device>", "where the model runs: cpu, cuda, cuda:N (GPU N), or auto (CUDA when usable, else the CPU)", parseDeviceFlag, DEFAULT_CLI_DEVICE)
    .option("--vram-budget <size>", "GPU memory the model may hold, e.g. 20GiB; blocks beyond it are streamed from host memory", parseByteSize("--vram-budget"))
    .option("--cublas <path>", "the cuBLAS library (or its folder) the CUDA backend opens; default: $SHORTGPT_CUBLAS_PATH, the system's, pip's nvidia-cublas");
}

/** openModel's device options from the flags. */
export function deviceOptions(flags: DeviceFlags): DeviceOptions {
  const [device, index] = flags.device.split(":") as [string, string | undefined];
  return {
    device: device as Device,
    ...(index !== undefined ? { deviceIndex: Number(index) } : {}),
    ...(flags.vramBudget !== undefined ? { vramBudget: flags.vramBudget } : {}),
    ...(flags.cublas !== undefined ? { cublasPath: flags.cublas } : {}),
  };
}
