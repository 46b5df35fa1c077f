/**
 * `shortgpt bench`: the JSON object's shape and consistency (medians, each
 * side's runs and spread, the ratios' per-round spread and trust flags with a
 * warning for each untrusted one), the table, the speed-up of a pruned model,
 * usage errors, and the llama.cpp column dropped with a note when
 * node-llama-cpp cannot be found (as for a user who installed shortgpt from
 * npm without it). The trust rule itself is tested in bench-stats.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import type { BenchReport, EngineBench } from "../src/cli/bench.js";
import { pruneLayers } from "../src/gguf/prune.js";
import { runCli } from "./helpers/cli.js";
import { SHARED_DATA, STORIES_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SMALL = ["--threads", "1", "--prompt", "64", "--gen", "8", "--runs", "2"];

function cli(args: string[], nodeArgs: string[] = []) {
  const r = runCli(["bench", ...args], { nodeArgs, timeoutMs: 170_000 });
  return { status: r.code, stdout: r.stdout, stderr: r.stderr };
}

function expectEngine(e: unknown): void {
  expect(e).toMatchObject({
    prefillTokensPerSecond: expect.any(Number),
    decodeTokensPerSecond: expect.any(Number),
    prefillSeconds: expect.any(Number),
    decodeSeconds: expect.any(Number),
    peakRssBytes: expect.any(Number),
    info: expect.any(String),
  });
  const x = e as { prefillTokensPerSecond: number; decodeTokensPerSecond: number; prefillSeconds: number; decodeSeconds: number; peakRssBytes: number };
  expect(x.prefillSeconds).toBeGreaterThan(0);
  expect(x.decodeSeconds).toBeGreaterThan(0);
  // Rates are the medians' tokens over seconds: 64 prompt tokens, 8 decode steps.
  expect(x.prefillTokensPerSecond).toBeCloseTo(64 / x.prefillSeconds, 6);
  expect(x.decodeTokensPerSecond).toBeCloseTo(8 / x.decodeSeconds, 6);
  // Every run is kept (2 here), and the spread is over them.
  const { runs, spread } = e as EngineBench;
  expect(runs.prefillSeconds).toHaveLength(2);
  expect(runs.decodeSeconds).toHaveLength(2);
  expect(spread.prefillTokensPerSecond.median).toBeCloseTo(x.prefillTokensPerSecond, 6);
  expect(spread.prefillTokensPerSecond.min).toBeCloseTo(64 / Math.max(...runs.prefillSeconds), 6);
  expect(spread.decodeTokensPerSecond.max).toBeCloseTo(8 / Math.min(...runs.decodeSeconds), 6);
  // A Node process holding a model: tens of MiB, not bytes or terabytes.
  expect(x.peakRssBytes).toBeGreaterThan(20 * 2 ** 20);
  expect(x.peakRssBytes).toBeLessThan(4 * 2 ** 30);
}

describe.skipIf(!SHARED_DATA)("shortgpt bench", () => {
  it("--json: both models, both engines, and the pruned model's ratios", async () => {
    const pruned = join(dir, "stories-pruned.gguf");
    await pruneLayers(STORIES_PATH, pruned, [3, 4]);
    const run = cli([STORIES_PATH, pruned, ...SMALL, "--json"]);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as BenchReport;
    expect(report.settings).toEqual({ threads: 1, promptTokens: 64, genTokens: 8, runs: 2, text: "English text from nlp-corpus", device: "auto" });
    expect(report.llamaCpp).toEqual({ available: true, note: null });
    expect(report.models.map((m) => m.blockCount)).toEqual([5, 3]);
    expect(report.models[0]!.architecture).toBe("llama");
    for (const m of report.models) {
      expectEngine(m.shortgpt);
      // --device defaults to auto: the GPU where the CUDA addon finds one, else the CPU.
      expect(["cpu", "cuda"]).toContain(m.shortgpt.device!.backend);
      expect(m.shortgpt.device!.requested).toBe("auto");
      expectEngine(m.llamaCpp);
      expect(m.llamaCpp!.info).toMatch(/llama\.cpp .* via node-llama-cpp/);
    }
    const [a, b] = report.models;
    const c = report.comparison!;
    expect(c.blocks).toBeCloseTo(3 / 5, 12);
    expect(c.fileSize).toBeCloseTo(b!.fileSize / a!.fileSize, 12);
    expect(c.parameters).toBeCloseTo(b!.parameters / a!.parameters, 12);
    expect(c.fileSize).toBeLessThan(1);
    expect(c.shortgpt.decode).toBeCloseTo(b!.shortgpt.decodeTokensPerSecond / a!.shortgpt.decodeTokensPerSecond, 12);
    expect(c.shortgpt.prefill).toBeCloseTo(b!.shortgpt.prefillTokensPerSecond / a!.shortgpt.prefillTokensPerSecond, 12);
    expect(c.llamaCpp!.decode).toBeCloseTo(b!.llamaCpp!.decodeTokensPerSecond / a!.llamaCpp!.decodeTokensPerSecond, 12);
    // Round by round: run r of the first model over run r of the second, and one warning per untrusted ratio.
    const rounds = a!.shortgpt.runs.prefillSeconds.map((s, r) => s / b!.shortgpt.runs.prefillSeconds[r]!);
    expect(c.shortgpt.prefillRounds.min).toBeCloseTo(Math.min(...rounds), 12);
    expect(c.shortgpt.prefillRounds.max).toBeCloseTo(Math.max(...rounds), 12);
    const flags = [c.shortgpt, c.llamaCpp!].flatMap((e) => [e.trusted.prefill, e.trusted.decode]);
    expect(report.warnings).toHaveLength(flags.filter((t) => !t).length);
    for (const w of report.warnings) expect(w).toMatch(/^(shortgpt|llama\.cpp) (prefill|decode), second vs first model: .* too noisy to trust/);
  });

  it("the table, and without node-llama-cpp a note instead of its column", () => {
    const table = cli([STORIES_PATH, ...SMALL]);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/64-token prompt .* 8 generated tokens, 1 thread, median \(min-max\) of 2 interleaved runs/);
    const rate = String.raw`[\d.]+(?: \([\d.]+-[\d.]+\))?`;
    expect(table.stdout).toMatch(new RegExp(String.raw`stories260K\.gguf\s+5\s+260\.0 K\s+1\.01 MiB\s+shortgpt\s+${rate}\s+${rate}\s+[\d.]+ MiB`));
    expect(table.stdout).toMatch(new RegExp(String.raw`\n\s+llama\.cpp\s+${rate}\s+${rate}\s+[\d.]+ MiB`));
    expect(table.stdout).not.toContain("second vs first");

    // A resolve hook that makes node-llama-cpp unfindable, in the CLI process and its workers.
    const hook = join(dir, "hide-node-llama-cpp.mjs");
    writeFileSync(
      hook,
      `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`export async function resolve(s, c, next) {
  if (s === "node-llama-cpp") { const e = new Error("Cannot find package 'node-llama-cpp'"); e.code = "ERR_MODULE_NOT_FOUND"; throw e; }
  return next(s, c);
}\`));
`,
    );
    const without = cli([STORIES_PATH, ...SMALL, "--json"], ["--import", hook]);
    expect(without.status, without.stderr).toBe(0);
    const report = JSON.parse(without.stdout) as BenchReport;
    expect(report.llamaCpp.available).toBe(false);
    expect(report.llamaCpp.note).toMatch(/node-llama-cpp is not installed/);
    expect(report.models[0]!.llamaCpp).toBeNull();
    expectEngine(report.models[0]!.shortgpt);
    const plain = cli([STORIES_PATH, ...SMALL], ["--import", hook]);
    expect(plain.stdout).not.toMatch(/llama\.cpp\s+[\d.]/);
    expect(plain.stdout).toMatch(/note: node-llama-cpp is not installed/);
  });

  it("usage errors exit 2, a missing model exits 1", () => {
    expect(cli([STORIES_PATH, "--prompt", "500", "--gen", "100"]).status).toBe(2); // beyond stories260K's 512
    expect(cli([STORIES_PATH, "--runs", "0"]).status).toBe(2);
    const missing = cli([join(dir, "nope.gguf")]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.gguf/);
  });
});
