#!/usr/bin/env node
// Builds the CUDA addon, build-cuda/Release/shortgpt_cuda.node (`npm run build:cuda`): the
// whole engine plus the CUDA backend, through cmake-js with -DSHORTGPT_CUDA=ON. The CPU addon
// (build/Release/shortgpt.node from node-gyp) is left as it is.
//
// Uses the nvcc on PATH (or $CUDACXX); where there is none, downloads NVIDIA's nvcc, runtime
// and headers from PyPI into the cache (pinned versions, ~350 MB, never installed into a
// Python) and builds with those. The CUDA runtime is linked statically and cuBLAS is opened at
// run time, so the result needs only the NVIDIA driver (and cuBLAS) where it runs.
//
//   node scripts/build-cuda.mjs [--arch 90] [--out DIR] [--jobs N] [--werror]
//   node scripts/build-cuda.mjs --print-nvcc      only make nvcc available and print its path
//
// --arch takes CUDA architectures without the sm_ prefix, comma-separated (default: 80, 86, 89
// and 90 machine code plus PTX for newer GPUs); each is built as machine code, the last also as
// PTX.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const PYPI_CUDA = ["nvidia-cuda-nvcc==13.5.37", "nvidia-cuda-runtime==13.5.37", "nvidia-cuda-crt==13.5.37", "nvidia-nvvm==13.5.37", "nvidia-cuda-cccl==13.3.5.0.6"];
/** Where `npm run build:cuda` puts its build, and src/engine.ts looks for the addon first. */
const CUDA_BUILD_DIR = join(root, "build-cuda");

const { values: args } = parseArgs({
  options: {
    "print-nvcc": { type: "boolean" },
    arch: { type: "string" },
    out: { type: "string" },
    jobs: { type: "string" },
    // Warnings (host or device code) fail the build: what CI runs (.ci/run).
    werror: { type: "boolean" },
  },
});

function onPath(cmd) {
  return spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
}

/** nvcc from $CUDACXX, PATH, or the PyPI packages fetched into the cache. */
function findNvcc() {
  if (process.env.CUDACXX) return process.env.CUDACXX;
  if (onPath("nvcc")) return "nvcc";
  const target = join(process.env.SHORTGPT_CACHE_DIR ?? join(root, ".cache"), "cuda-13.5");
  const nvcc = join(target, "nvidia", "cu13", "bin", "nvcc");
  if (!existsSync(nvcc)) {
    mkdirSync(target, { recursive: true });
    console.error(`build-cuda: no nvcc found; downloading ${PYPI_CUDA.join(", ")} from PyPI into ${target}`);
    execFileSync(process.env.PYTHON ?? "python3", ["-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:", "--target", target, ...PYPI_CUDA], { stdio: "inherit" });
  }
  return nvcc;
}

/** "80,90" -> "80-real;90-real;90-virtual" (machine code for each, PTX of the last to JIT on newer GPUs). */
function cudaArchitectures(list) {
  const archs = list.split(",").map((a) => a.trim().replace(/^sm_/, ""));
  if (archs.length === 0 || archs.some((a) => !/^\d{2,3}[a-z]?$/.test(a))) {
    console.error(`build-cuda: --arch takes architectures like 80,86,89,90; got '${list}'`);
    process.exit(2);
  }
  return [...archs.map((a) => `${a}-real`), `${archs.at(-1)}-virtual`].join(";");
}

const nvcc = findNvcc();
if (args["print-nvcc"]) {
  console.log(nvcc);
  process.exit(0);
}
const out = resolve(args.out ?? CUDA_BUILD_DIR);
const cmakeArgs = ["rebuild", "--out", out, "--CDSHORTGPT_CUDA=ON"];
if (args.arch) cmakeArgs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${cudaArchitectures(args.arch)}`);
if (args.jobs) cmakeArgs.push("--parallel", args.jobs);
if (args.werror) cmakeArgs.push("--CDSHORTGPT_WERROR=ON");
console.error(`build-cuda: nvcc = ${nvcc}; output ${join(out, "Release", "shortgpt_cuda.node")}`);
const r = spawnSync(process.execPath, [join(root, "node_modules", "cmake-js", "bin", "cmake-js"), ...cmakeArgs], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, CUDACXX: nvcc },
});
process.exit(r.status ?? 1);
