#!/usr/bin/env node
// Builds the addon with CUDA through cmake-js (`npm run build:cuda`; with
// --print-nvcc it only makes nvcc available and prints its path). Uses the
// nvcc on PATH (or $CUDACXX); where there is none, downloads NVIDIA's nvcc,
// runtime and headers from PyPI into the cache (pinned versions, ~350 MB, never
// installed into a Python) and builds with those. The CUDA runtime is linked
// statically, so the result needs only the NVIDIA driver at run time.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYPI_CUDA = ["nvidia-cuda-nvcc==13.5.37", "nvidia-cuda-runtime==13.5.37", "nvidia-cuda-crt==13.5.37", "nvidia-nvvm==13.5.37", "nvidia-cuda-cccl==13.3.5.0.6"];

function onPath(cmd) {
  return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
}

let nvcc = process.env.CUDACXX;
if (!nvcc && onPath("nvcc")) nvcc = "nvcc";
if (!nvcc) {
  const target = join(process.env.SHORTGPT_CACHE_DIR ?? join(root, ".cache"), "cuda-13.5");
  nvcc = join(target, "nvidia", "cu13", "bin", "nvcc");
  if (!existsSync(nvcc)) {
    mkdirSync(target, { recursive: true });
    console.error(`build-cuda: no nvcc found; downloading ${PYPI_CUDA.join(", ")} from PyPI into ${target}`);
    execFileSync(process.env.PYTHON ?? "python3", ["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:", "--target", target, ...PYPI_CUDA], { stdio: "inherit" });
  }
}
if (process.argv.includes("--print-nvcc")) {
  console.log(nvcc);
  process.exit(0);
}
console.error(`build-cuda: nvcc = ${nvcc}`);
const r = spawnSync(process.execPath, [join(root, "node_modules", "cmake-js", "bin", "cmake-js"), "rebuild"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, CUDACXX: nvcc },
});
process.exit(r.status ?? 1);
