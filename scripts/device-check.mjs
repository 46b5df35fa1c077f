#!/usr/bin/env node
// The GPU check to run where a GPU is lent: loads a built addon (default: the CUDA
// addon where src/native-loader.ts's CUDA_ADDON looks for it, build-cuda/Release or
// prebuilds/<platform>-<arch>/cuda/, else the CPU addon; or a path)
// and reports what its CUDA runtime sees, with the probe kernel's result per
// device. Needs only Node.js and the NVIDIA driver (the runtime is static), so
// a CUDA build made on a machine without a GPU can be carried to one and
// checked there. Prints one JSON object; exit 0 when every device ran the
// probe, 3 when the addon has no CUDA backend, 4 when CUDA found no usable
// device or a probe failed.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const target = process.argv[2];
const defaults = [
  join(root, "build-cuda", "Release", "shortgpt_cuda.node"),
  join(root, "prebuilds", `${process.platform}-${process.arch}`, "cuda", "shortgpt_cuda.node"),
  join(root, "build", "Release", "shortgpt.node"),
];
const path = target ? resolve(target) : defaults.find((p) => existsSync(p));
if (!path) {
  console.error(`device-check: no addon found (looked for ${defaults.join(", ")})`);
  process.exit(3);
}
const addon = require(path);

const info = addon.buildInfo();
const cuda = addon.cudaDevices();
const result = { addon: path, backends: info.backends, simd: info.simd, cuda };
console.log(JSON.stringify(result, null, 2));

if (!info.backends.includes("cuda") || cuda === null) {
  console.error("device-check: this addon was built without CUDA (build one with `npm run build:cuda`)");
  process.exit(3);
}
const failed = cuda.devices.filter((d) => !d.runsKernels);
if (cuda.error !== null || cuda.devices.length === 0 || failed.length > 0) {
  const why = cuda.error ?? (cuda.devices.length === 0 ? "no CUDA devices" : failed.map((d) => `device ${d.index} (${d.name}, sm_${d.computeCapability}): ${d.kernelError}`).join("; "));
  console.error(`device-check: CUDA is not usable here: ${why}`);
  process.exit(4);
}
console.error(`device-check: ${cuda.devices.length} device(s) ran the probe kernel (runtime ${cuda.runtimeVersion}, driver ${cuda.driverVersion})`);
