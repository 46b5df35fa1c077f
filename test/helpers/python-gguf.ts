/**
 * The `gguf` Python package from PyPI (llama.cpp's own reader/writer and
 * quantizers), installed into a private venv under the cache, never into the
 * system Python. Tests use it as an independent reference.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

import { cacheDir } from "../../src/models/fetch.js";

const execFileAsync = promisify(execFile);

/** Pinned: the reference must not move under the tests. */
export const PYTHON_REFERENCE_PACKAGES = ["gguf==0.19.0", "numpy==2.3.5"];

export function pythonEnvDir(): string {
  return join(cacheDir(), "pyenv-gguf-0.19.0");
}

export function pythonBin(): string {
  return process.platform === "win32" ? join(pythonEnvDir(), "Scripts", "python.exe") : join(pythonEnvDir(), "bin", "python");
}

export async function ensurePythonGguf(log: (line: string) => void = () => {}): Promise<string> {
  const python = pythonBin();
  if (existsSync(python)) {
    try {
      execFileSync(python, ["-c", "import gguf, numpy"], { stdio: "ignore" });
      return python;
    } catch {
      // broken venv: recreate below
    }
  }
  log(`creating ${pythonEnvDir()} with ${PYTHON_REFERENCE_PACKAGES.join(", ")}`);
  await execFileAsync(process.env.PYTHON ?? "python3", ["-m", "venv", "--clear", pythonEnvDir()]);
  await execFileAsync(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check", "--only-binary=:all:", ...PYTHON_REFERENCE_PACKAGES], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return python;
}

/** Runs a Python script (text) with the reference venv; returns stdout. */
export async function runPython(script: string, args: readonly string[] = [], options: { maxBuffer?: number } = {}): Promise<string> {
  const { stdout } = await execFileAsync(pythonBin(), ["-c", script, ...args], { maxBuffer: options.maxBuffer ?? 256 * 1024 * 1024 });
  return stdout;
}
