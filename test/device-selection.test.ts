/**
 * Where a model runs: openModel's device option and the CLI's --device, on a
 * machine with or without the CUDA addon and a GPU. What a GPU-less machine
 * can prove: the CUDA addon (when built: `npm run build:cuda`, as CI does)
 * loads beside the CPU addon and reports no usable device without crashing;
 * device "cuda" is refused with ERR_CUDA_UNAVAILABLE naming what is missing;
 * "auto" runs on the CPU with the same numbers as "cpu" and keeps the reason;
 * the reports record the device. Where a GPU is present the CUDA side is
 * checked by `npm run gpu-check` (scripts/gpu-check.mjs) against the CPU.
 *
 * SHORTGPT_TEST_CUDA=1 makes a missing CUDA addon a failure instead of a skip.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import Ajv2020 from "ajv/dist/2020.js";
import { afterAll, describe, expect, it } from "vitest";

import { parseByteSize, parseDeviceFlag } from "../src/cli/device-options.js";
import { pipCublasFolders } from "../src/device/cublas.js";
import { describeDevice } from "../src/device/describe.js";
import { checkDeviceOptions, cudaVersionText, deviceReport } from "../src/device/select.js";
import { addon, cudaAddon, cudaAddonCandidates, cudaDevices } from "../src/engine.js";
import { errorCode } from "../src/errors.js";
import { openModel } from "../src/model.js";
import { renderHtmlReport } from "../src/report/html-report.js";
import { SCORE_REPORT_SCHEMA } from "../src/report/score-schema.js";
import type { ScoreReport } from "../src/score/report-types.js";
import { runCli } from "./helpers/cli.js";
import { SMOLLM2_PATH } from "./helpers/data.js";
import { blockInfluenceOf } from "../src/evaluate/hidden-stats.js";
import { SMALL_RANDOM_MODELS, writeRandomModel } from "../src/models/random-model.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-device-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cuda = (() => {
  try {
    return cudaAddon();
  } catch (error) {
    return { error: error as Error };
  }
})();
const haveCudaAddon = "addon" in cuda;
const requireCuda = process.env.SHORTGPT_TEST_CUDA === "1";
const status = haveCudaAddon ? cuda.addon.cudaDevices() : null;
const usableGpu = status !== null && status.error === null && status.devices.some((d) => d.runsKernels);
if (!haveCudaAddon) console.warn(`[device-selection] no CUDA addon (${(cuda as { error: Error }).error.message}): its tests are skipped`);
else if (usableGpu) console.warn("[device-selection] a usable GPU is present: the no-GPU refusals are skipped");
else console.warn(`[device-selection] no usable GPU (${status?.error ?? "no device ran the probe kernel"}): the GPU tests are skipped (npm run gpu-check is the full check on a GPU machine)`);

/** A small random llama model (no tokenizer needed for logits). */
const TINY = { architecture: "llama", embd: 64, vocab: 256, blocks: 3, heads: 4, headsKv: 2, ff: 128, weights: "F32", seed: 7 } as const;
const tinyPath = join(dir, "tiny.gguf");
writeRandomModel(TINY, tinyPath);
const ids = Array.from({ length: 24 }, (_, i) => (i * 37 + 1) % TINY.vocab);

describe("options", () => {
  it("refuses a bad device, index, budget or cuBLAS path before reading the model", async () => {
    const bad: [object, string, RegExp][] = [
      [{ device: "gpu" }, "ERR_UNSUPPORTED_DEVICE", /options\.device 'gpu' is not one of cpu, cuda, auto/],
      [{ device: "cuda", deviceIndex: -1 }, "ERR_INVALID_ARG", /options\.deviceIndex must be an integer 0\.\.1023, got number -1/],
      [{ device: "cuda", deviceIndex: 1.5 }, "ERR_INVALID_ARG", /options\.deviceIndex must be/],
      [{ device: "cuda", vramBudget: 1024 }, "ERR_INVALID_ARG", /options\.vramBudget must be a whole number of bytes, at least 64 MiB/],
      [{ device: "cuda", cublasPath: "" }, "ERR_INVALID_ARG", /options\.cublasPath must be a non-empty path/],
    ];
    for (const [options, code, message] of bad) {
      expect(() => checkDeviceOptions(options)).toThrow(message);
      // openModel checks them first: a missing file is not what it complains about.
      await expect(openModel(join(dir, "missing.gguf"), options)).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    }
  });

  it("parses --device and --vram-budget as a user writes them", () => {
    for (const ok of ["cpu", "cuda", "cuda:0", "cuda:3", "auto"]) expect(parseDeviceFlag(ok)).toBe(ok);
    for (const bad of ["gpu", "cuda:", "cuda:x", "CPU", "cuda:1:2"]) expect(() => parseDeviceFlag(bad)).toThrow(/--device must be/);
    const size = parseByteSize("--vram-budget");
    expect(size("20GiB")).toBe(20 * 2 ** 30);
    expect(size("20G")).toBe(20 * 2 ** 30);
    expect(size("20GB")).toBe(20e9);
    expect(size("1.5gib")).toBe(1.5 * 2 ** 30);
    expect(size("512MiB")).toBe(512 * 2 ** 20);
    expect(size("1048576")).toBe(1048576);
    for (const bad of ["", "20 parsecs", "-1G", "0"]) expect(() => size(bad)).toThrow(/--vram-budget/);
  });

  it("turns a CUDA engine's info (the native contract's shape) into a schema-valid report and one line", () => {
    // No GPU here: the info object a CUDA engine returns, as native/napi/engine_binding.cc builds it.
    const info = {
      backend: "cuda",
      threads: 16,
      simd: "avx512",
      memoryBudget: 512 << 20,
      device: { index: 1, name: "NVIDIA H100 80GB HBM3", totalMemory: 85_031_714_816, computeCapability: "9.0", driverVersion: 13000, runtimeVersion: 13050, cublasVersion: 131000, cublasPath: "/usr/lib/libcublas.so.13", residentBlocks: 30, streamedBlocks: 2 },
      peakDeviceBytes: 5_600_000_000,
    };
    const report = deviceReport(info, { requested: "cuda" });
    expect(report).toEqual({
      backend: "cuda",
      requested: "cuda",
      name: "NVIDIA H100 80GB HBM3",
      memoryBytes: 85_031_714_816,
      index: 1,
      computeCapability: "9.0",
      driverVersion: "13.0",
      runtimeVersion: "13.5",
      cublasVersion: "13.10.0",
      peakDeviceBytes: 5_600_000_000,
      cublasPath: "/usr/lib/libcublas.so.13",
      residentBlocks: 30,
      streamedBlocks: 2,
    });
    const schema = new Ajv2020.default({ allErrors: true, strict: true }).compile(SCORE_REPORT_SCHEMA.properties.device);
    expect(schema(report), JSON.stringify(schema.errors)).toBe(true);
    expect(describeDevice(report)).toBe(
      "NVIDIA H100 80GB HBM3 (CUDA device 1, 79.2 GiB, peak 5.2 GiB used, 2 blocks streamed, compute 9.0; driver 13.0, runtime 13.5, cuBLAS 13.10.0)",
    );
  });

  it("prints CUDA versions as people read them", () => {
    expect(cudaVersionText(13050)).toBe("13.5");
    expect(cudaVersionText(12080)).toBe("12.8");
    expect(cudaVersionText(13000)).toBe("13.0");
    expect(cudaVersionText(130100)).toBe("13.1.0"); // cuBLAS: major·10000 + minor·100 + patch
    expect(cudaVersionText(120903)).toBe("12.9.3");
    expect(cudaVersionText("13.1.0")).toBe("13.1.0");
  });
});

describe("cuBLAS from pip", () => {
  it("finds the wheels' library folders (CUDA 13 and 12 layouts) under site-packages, and nothing else", () => {
    const site13 = join(dir, "site13");
    const site12 = join(dir, "site12");
    const empty = join(dir, "site-empty");
    mkdirSync(join(site13, "nvidia", "cu13", "lib"), { recursive: true });
    writeFileSync(join(site13, "nvidia", "cu13", "lib", "libcublas.so.13"), "");
    mkdirSync(join(site12, "nvidia", "cublas", "lib"), { recursive: true });
    writeFileSync(join(site12, "nvidia", "cublas", "lib", "libcublas.so.12"), "");
    mkdirSync(join(empty, "nvidia", "cu13", "lib"), { recursive: true });
    writeFileSync(join(empty, "nvidia", "cu13", "lib", "libcudart.so.13"), "");
    expect(pipCublasFolders([site13, empty, site12, join(dir, "absent")])).toEqual([
      join(site13, "nvidia", "cu13", "lib"),
      join(site12, "nvidia", "cublas", "lib"),
    ]);
  });
});

describe("the CPU addon", () => {
  it("stays CPU-only and device cpu never loads the CUDA addon's engine", async () => {
    expect(addon().buildInfo().backends).toEqual(["cpu"]);
    const model = await openModel(tinyPath, { threads: 1, device: "cpu" });
    try {
      expect(model.info.backend).toBe("cpu");
      expect(model.device).toMatchObject({ backend: "cpu", requested: "cpu", threads: 1 });
      expect(model.device.fallbackReason).toBeUndefined();
    } finally {
      model.close();
    }
  });
});

describe.skipIf(!haveCudaAddon && !requireCuda)("the CUDA addon", () => {
  it("is found where npm run build:cuda puts it and loads beside the CPU addon", () => {
    expect(haveCudaAddon, "SHORTGPT_TEST_CUDA=1 but no CUDA addon: run `npm run build:cuda` first").toBe(true);
    const { addon: loaded, path } = cudaAddon();
    expect(cudaAddonCandidates()).toContain(path);
    const info = loaded.buildInfo();
    expect(info.backends).toEqual(["cpu", "cuda"]);
    expect(info.buildSystem).toBe("cmake-js");
    // The same surface as the CPU addon: one engine, two builds.
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(addon()).sort());
    expect(loaded.ggmlTypeTable()).toEqual(addon().ggmlTypeTable());
    const seen = cudaDevices();
    expect(seen).not.toBeNull();
    expect(seen!.runtimeVersion).toBeGreaterThanOrEqual(12000);
    console.log(`[device-selection] CUDA addon ${path}: runtime ${cudaVersionText(seen!.runtimeVersion)}, driver ${seen!.driverVersion}, ${seen!.error ?? `${seen!.devices.length} device(s)`}`);
  });

  it.skipIf(usableGpu)("refuses device cuda with ERR_CUDA_UNAVAILABLE naming what is missing, and never crashes", async () => {
    const refusal = await openModel(tinyPath, { threads: 1, device: "cuda" }).then(
      (m) => {
        m.close();
        return null;
      },
      (error: Error) => error,
    );
    expect(refusal).not.toBeNull();
    expect(errorCode(refusal)).toBe("ERR_CUDA_UNAVAILABLE");
    // No driver, no device, or a CUDA addon from before the CUDA engine: each said in words.
    expect(refusal!.message).toMatch(/driver|device|GPU|no CUDA engine/i);
    // The process is fine and the CPU still runs the model.
    const model = await openModel(tinyPath, { threads: 1 });
    expect((await model.logits(ids, { positions: [ids.length - 1] })).length).toBe(TINY.vocab);
    model.close();
  });

  it.skipIf(usableGpu)("runs device auto on the CPU with the reason kept, and the same numbers as device cpu", async () => {
    const auto = await openModel(tinyPath, { threads: 1, device: "auto" });
    const cpu = await openModel(tinyPath, { threads: 1, device: "cpu" });
    try {
      expect(auto.info.backend).toBe("cpu");
      expect(auto.device.requested).toBe("auto");
      expect(auto.device.fallbackReason).toMatch(/driver|device|GPU|no CUDA engine/i);
      expect(describeDevice(auto.device)).toContain("device auto ran on the CPU: ");
      // Bit for bit: the fallback is the CPU addon's engine itself.
      expect(await auto.logits(ids)).toEqual(await cpu.logits(ids));
      // An abort reaches the engine through a token of the engine's own addon.
      const controller = new AbortController();
      controller.abort();
      await expect(auto.logits(ids, { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    } finally {
      auto.close();
      cpu.close();
    }
  });
});

describe.skipIf(!usableGpu)("on a GPU", () => {
  it("device cuda runs the model on the GPU, reports it, and agrees with the CPU (BI within 1e-3)", async () => {
    const spec = SMALL_RANDOM_MODELS.find((m) => m.name === "llama-q4_k_m")!;
    const path = join(dir, "gpu.gguf");
    writeRandomModel(spec, path);
    const gpu = await openModel(path, { device: "cuda" });
    const cpu = await openModel(path, { device: "cpu", threads: 2 });
    try {
      expect(gpu.info.backend).toBe("cuda");
      expect(gpu.device).toMatchObject({ backend: "cuda", requested: "cuda", index: 0 });
      expect(gpu.device.name.length).toBeGreaterThan(0);
      expect(gpu.device.driverVersion).toMatch(/^\d+\.\d+/);
      expect(gpu.device.cublasVersion).toMatch(/^\d+\.\d+/);
      const windows = [0, 1].map((w) => Array.from({ length: 128 }, (_, i) => (i * 7919 + w * 31 + 5) % spec.vocab));
      const [bg, bc] = [blockInfluenceOf(await gpu.hiddenStats(windows)), blockInfluenceOf(await cpu.hiddenStats(windows))];
      // The issue's tolerance for every block's BI (npm run gpu-check applies it to every model).
      expect(Math.max(...bg.map((v, i) => Math.abs(v - bc[i]!)))).toBeLessThan(1e-3);
      expect(gpu.info.peakDeviceBytes).toBeGreaterThan(0);
    } finally {
      gpu.close();
      cpu.close();
    }
    const auto = await openModel(path, { device: "auto" });
    expect(auto.device).toMatchObject({ backend: "cuda", requested: "auto" });
    expect(auto.device.fallbackReason).toBeUndefined();
    auto.close();
  });
});

describe("the CLI", () => {
  const text = join(dir, "calib.txt");
  writeFileSync(text, "The quick brown fox jumps over the lazy dog. ".repeat(200));
  const score = (extra: string[], env: Record<string, string> = {}) =>
    runCli(["score", SMOLLM2_PATH, "--text", text, "--windows", "2", "--ctx", "32", "--threads", "2", ...extra], { env, timeoutMs: 120_000 });

  it("records the device in the score JSON (schema-valid) and the HTML report", () => {
    const out = join(dir, "scores.json");
    const r = score(["--device", "cpu", "--json", out]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, "utf8")) as ScoreReport;
    const validate = new Ajv2020.default({ allErrors: true, strict: true }).compile(SCORE_REPORT_SCHEMA);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(json.device).toMatchObject({ backend: "cpu", requested: "cpu", threads: 2 });
    expect(json.device!.memoryBytes).toBeGreaterThan(0);
    expect(validate({ ...json, device: { ...json.device, backend: "tpu" } })).toBe(false);
    const html = renderHtmlReport({ scores: json });
    expect(html).toContain("<dt>device</dt>");
    expect(html).toContain(`${json.device!.name} (CPU, 2 threads`);
  });

  it("--device auto without a usable CUDA addon runs on the CPU and says why; --device cuda is refused (exit 1, ERR_CUDA_UNAVAILABLE)", () => {
    const missing = join(dir, "no-such", "shortgpt_cuda.node");
    const env = { SHORTGPT_CUDA_ADDON: missing };
    const auto = score(["--json", "-"], env);
    expect(auto.code, auto.stderr).toBe(0);
    const device = (JSON.parse(auto.stdout) as ScoreReport).device!;
    expect(device).toMatchObject({ backend: "cpu", requested: "auto" });
    expect(device.fallbackReason).toContain(`the CUDA addon (shortgpt_cuda.node) is not installed: looked for ${missing}`);
    const refused = score(["--device", "cuda:1"], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`looked for ${missing}`);
    expect(refused.stderr).toContain("[ERR_CUDA_UNAVAILABLE]");
  });

  it("rejects a bad --device or --vram-budget as a usage error (exit 2) on every command that runs a model", () => {
    const commands = [
      ["score", SMOLLM2_PATH, "--text", text],
      ["prune", SMOLLM2_PATH, "-o", join(dir, "x.gguf"), "--remove", "1", "--text", text],
      ["eval", SMOLLM2_PATH, "--text", text],
      ["bench", SMOLLM2_PATH],
      ["demo"],
    ];
    for (const command of commands) {
      const bad = runCli([...command, "--device", "gpu"]);
      expect(bad.code, `${command[0]}: ${bad.stderr}`).toBe(2);
      expect(bad.stderr).toMatch(/--device must be cpu, cuda, cuda:N/);
      const budget = runCli([...command, "--vram-budget", "lots"]);
      expect(budget.code, `${command[0]}: ${budget.stderr}`).toBe(2);
      expect(budget.stderr).toMatch(/--vram-budget must be a size/);
    }
  });

  it("eval --json records the device", () => {
    const r = runCli(["eval", SMOLLM2_PATH, "--text", text, "--ctx", "64", "--chunks", "2", "--threads", "2", "--device", "cpu", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).device).toMatchObject({ backend: "cpu", requested: "cpu", threads: 2 });
  });
});
