/**
 * Where pip's `nvidia-cublas` wheels put cuBLAS, for the CUDA backend to open
 * at run time (the CUDA addon never links cuBLAS). The native side searches
 * the `cublasPath` option, $SHORTGPT_CUBLAS_PATH and the system loader path
 * (CUDA toolkit); these folders are what a Python install adds: PyTorch and
 * JAX bring cuBLAS this way, so a machine with either usually has one.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** The wheels' layouts: CUDA 13 (nvidia/cu13/lib) and CUDA 12 (nvidia/cublas/lib). */
const WHEEL_LIB_FOLDERS = [join("nvidia", "cu13", "lib"), join("nvidia", "cublas", "lib")];

/** A Python that does not answer in this long is not worth waiting for. */
const PYTHON_TIMEOUT_MS = 10_000;

/** site-packages folders of the Python on PATH (and $PYTHON), of the active venv and conda env. */
export function pythonSitePackages(): string[] {
  const folders: string[] = [];
  const pythons = [...new Set([process.env.PYTHON, "python3"].filter((p): p is string => Boolean(p)))];
  for (const python of pythons) {
    const r = spawnSync(python, ["-c", "import site,sys;print('\\n'.join(site.getsitepackages()+[site.getusersitepackages()]))"], {
      encoding: "utf8",
      timeout: PYTHON_TIMEOUT_MS,
      stdio: ["ignore", "pipe", "ignore"],
    });
    if (r.status === 0) folders.push(...r.stdout.split("\n").map((l) => l.trim()).filter(Boolean));
  }
  for (const prefix of [process.env.VIRTUAL_ENV, process.env.CONDA_PREFIX]) {
    if (!prefix) continue;
    const lib = join(prefix, "lib");
    for (const entry of safeReaddir(lib)) {
      if (/^python3\.\d+$/.test(entry)) folders.push(join(lib, entry, "site-packages"));
    }
  }
  return [...new Set(folders)];
}

/** Folders holding a pip-installed libcublas (newest CUDA layout first). */
export function pipCublasFolders(sitePackages: readonly string[] = pythonSitePackages()): string[] {
  const out: string[] = [];
  for (const site of sitePackages) {
    for (const sub of WHEEL_LIB_FOLDERS) {
      const folder = join(site, sub);
      if (safeReaddir(folder).some((f) => /^libcublas\.so(\.\d+)*$/.test(f) || /^cublas64_\d+\.dll$/.test(f))) out.push(folder);
    }
  }
  return [...new Set(out)].filter((f) => existsSync(f));
}

function safeReaddir(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}
