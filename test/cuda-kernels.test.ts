/**
 * Each CUDA kernel against its CPU reference, on a GPU (skipped with the reason when this machine
 * has none or no CUDA addon is built). The checks and their tolerances live in
 * scripts/gpu-check/cuda-kernels.mjs, plain JavaScript that `npm run gpu-check` runs on a GPU
 * machine without the test toolchain; this file runs the same list under vitest.
 */
import { describe, expect, it } from "vitest";

import { addon } from "../src/engine.js";
import * as random from "../src/models/random-blocks.js";
import { cudaKernelChecks } from "../scripts/gpu-check/cuda-kernels.mjs";
import { cudaAddon, gpuSkipReason } from "./helpers/cuda-addon.js";

const reason = gpuSkipReason();
if (reason) console.warn(`[cuda-kernels] skipped: ${reason}`);

describe.skipIf(reason !== null)(`CUDA kernels vs their CPU references${reason ? ` (skipped: ${reason})` : ""}`, () => {
  const checks = reason ? [] : cudaKernelChecks({ cpu: addon().kernels, cuda: cudaAddon()!.cudaKernels!, random });
  for (const check of checks) {
    it(check.name, () => {
      const { ok, detail } = check.run();
      console.log(`[cuda-kernels] ${check.name}: ${detail}`);
      expect(ok, detail).toBe(true);
    });
  }
  it("has a check for every kernel family", () => {
    expect(checks.length).toBeGreaterThan(30);
  });
});
