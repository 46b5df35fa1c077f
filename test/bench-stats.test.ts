/**
 * The rule that flags a benchmark comparison too noisy to trust (src/cli/bench-stats.ts), on
 * the shapes `shortgpt bench --json` and the bench suites produce: per-run seconds of each side,
 * run r of every side in the same round. The noisy inputs are real: `shortgpt bench` runs on the
 * shared 2-core machine while six other engineers built and tested (1-minute load average 8-10),
 * where single runs came out 2-15× slower than their neighbours.
 */
import { describe, expect, it } from "vitest";

import { renderBench, type BenchReport, type EngineBench } from "../src/cli/bench.js";
import { compareTimes, formatComparison, MAX_TRUSTED_ROUND_SPREAD, median, spreadOf } from "../src/cli/bench-stats.js";

// `shortgpt bench SmolLM2-135M.gguf pruned.gguf --threads 1 --prompt 128 --gen 16 --runs 5 --json`
// (blocks 13-15, 17, 25-26 removed), load average 7.8-9.8: shortgpt's prefill seconds per round.
const SMOLLM2_PREFILL = [0.984190792, 0.903788621, 0.787176763, 1.09255437, 0.773376175];
const SMOLLM2_PRUNED_PREFILL = [0.840254164, 0.634235401, 0.809715745, 0.852787175, 0.478733313];
// stories260K and stories260K without blocks 3-4, --prompt 256 --gen 32, load average 8.3: decode seconds.
const STORIES_DECODE = [0.027035671, 0.191769418, 0.079646127, 0.107582897, 0.133384678];
const STORIES_PRUNED_DECODE = [0.01670202, 0.010482167, 0.027399778, 0.078053581, 0.023538597];

describe("spreads and ratios", () => {
  it("min, median (the mean of the middle two for an even count) and max", () => {
    expect(spreadOf([3, 1, 2])).toEqual({ min: 1, median: 2, max: 3 });
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => spreadOf([])).toThrow(RangeError);
  });

  it("the ratio is of the medians, and each round gives its own", () => {
    const c = compareTimes(SMOLLM2_PREFILL, SMOLLM2_PRUNED_PREFILL, "prefill");
    expect(c.ratio).toBeCloseTo(median(SMOLLM2_PREFILL) / median(SMOLLM2_PRUNED_PREFILL), 12);
    expect(c.rounds).toBe(5);
    const perRound = SMOLLM2_PREFILL.map((s, r) => s / SMOLLM2_PRUNED_PREFILL[r]!);
    expect(c.perRound).toEqual(spreadOf(perRound));
    expect(() => compareTimes([1, 2], [1], "mismatched")).toThrow(/same number of rounds/);
  });
});

describe("the trust rule: per-round ratios at most 25% apart, at least 2 rounds", () => {
  it("flags the loaded machine's runs, saying by how much and what to do", () => {
    const prefill = compareTimes(SMOLLM2_PREFILL, SMOLLM2_PRUNED_PREFILL, "shortgpt prefill, second vs first model");
    // Round by round the pruned model was 0.97× to 1.62× as fast: the reported 1.12× means little.
    expect(prefill.perRound.min).toBeLessThan(1);
    expect(prefill.perRound.max / prefill.perRound.min).toBeGreaterThan(1.6);
    expect(prefill.trusted).toBe(false);
    expect(prefill.warning).toMatch(/^shortgpt prefill, second vs first model: 1\.12× is too noisy to trust: round by round it ranged 0\.97×-1\.62× \(1\.66× apart, more than 1\.25×\)/);
    expect(prefill.warning).toMatch(/measure again when it is quieter/);
    const decode = compareTimes(STORIES_DECODE, STORIES_PRUNED_DECODE, "decode");
    expect(decode.perRound.max / decode.perRound.min).toBeGreaterThan(10);
    expect(decode.trusted).toBe(false);
    expect(formatComparison(decode)).toMatch(/^\d+\.\d\d× \(rounds \d+\.\d\d-\d+\.\d\d×\) ⚠ noisy$/);
  });

  it("trusts rounds that agree, however much the load moved both sides together", () => {
    // The same SmolLM2 runs, but a pruned side that kept pace round by round (1.20× every round,
    // ±10%): a load change that hits both sides of a round alike is what interleaving cancels.
    const steady = SMOLLM2_PREFILL.map((s, r) => s / (1.2 * (r % 2 === 0 ? 1.1 : 1 / 1.1)));
    const c = compareTimes(SMOLLM2_PREFILL, steady, "steady");
    expect(c.perRound.max / c.perRound.min).toBeCloseTo(1.21, 2);
    expect(spreadOf(SMOLLM2_PREFILL).max / spreadOf(SMOLLM2_PREFILL).min).toBeGreaterThan(1.4); // each side alone moved by 41%
    expect(c.trusted).toBe(true);
    expect(c.warning).toBeNull();
    expect(formatComparison(c)).not.toContain("⚠");
  });

  it("the 1.25 boundary is inclusive; one round, or a run of no duration, is never trusted", () => {
    const at = compareTimes([1.25, 1], [1, 1], "at the limit");
    expect(at.perRound.max / at.perRound.min).toBe(MAX_TRUSTED_ROUND_SPREAD);
    expect(at.trusted).toBe(true);
    expect(compareTimes([1.26, 1], [1, 1], "just past it").trusted).toBe(false);
    const one = compareTimes([2], [1], "single");
    expect(one.trusted).toBe(false);
    expect(one.warning).toMatch(/one round only/);
    expect(compareTimes([1, 1], [0, 1], "instant").warning).toMatch(/no measurable time/);
  });
});

/** An EngineBench as benchModels builds it from per-run seconds (64-token prompt, 8 decode steps). */
function engine(prefillSeconds: number[], decodeSeconds: number[]): EngineBench {
  return {
    prefillTokensPerSecond: 64 / median(prefillSeconds),
    decodeTokensPerSecond: 8 / median(decodeSeconds),
    prefillSeconds: median(prefillSeconds),
    decodeSeconds: median(decodeSeconds),
    spread: {
      prefillTokensPerSecond: { min: 64 / Math.max(...prefillSeconds), median: 64 / median(prefillSeconds), max: 64 / Math.min(...prefillSeconds) },
      decodeTokensPerSecond: { min: 8 / Math.max(...decodeSeconds), median: 8 / median(decodeSeconds), max: 8 / Math.min(...decodeSeconds) },
    },
    runs: { prefillSeconds, decodeSeconds },
    peakRssBytes: 200 * 2 ** 20,
    info: "shortgpt cpu avx512, 1 threads",
  };
}

describe("the bench table", () => {
  it("shows each side's median with its min-max, every ratio's rounds, and a warning line per untrusted ratio", () => {
    const first = engine(SMOLLM2_PREFILL, STORIES_DECODE);
    const second = engine(SMOLLM2_PRUNED_PREFILL, STORIES_PRUNED_DECODE);
    const prefill = compareTimes(SMOLLM2_PREFILL, SMOLLM2_PRUNED_PREFILL, "shortgpt prefill, second vs first model");
    const decode = compareTimes(STORIES_DECODE, STORIES_PRUNED_DECODE, "shortgpt decode, second vs first model");
    const report: BenchReport = {
      settings: { threads: 1, promptTokens: 64, genTokens: 8, runs: 5, text: "English text from nlp-corpus", device: "cpu" },
      llamaCpp: { available: false, note: "node-llama-cpp is not installed" },
      models: [
        { path: "/m/a.gguf", architecture: "llama", blockCount: 30, parameters: 134.5e6, fileSize: 98e6, shortgpt: first, llamaCpp: null },
        { path: "/m/b.gguf", architecture: "llama", blockCount: 24, parameters: 113.3e6, fileSize: 85e6, shortgpt: second, llamaCpp: null },
      ],
      comparison: {
        shortgpt: {
          prefill: second.prefillTokensPerSecond / first.prefillTokensPerSecond,
          decode: second.decodeTokensPerSecond / first.decodeTokensPerSecond,
          peakRss: 1,
          prefillRounds: prefill.perRound,
          decodeRounds: decode.perRound,
          trusted: { prefill: prefill.trusted, decode: decode.trusted },
        },
        llamaCpp: null,
        fileSize: 85 / 98,
        parameters: 113.3 / 134.5,
        blocks: 0.8,
      },
      warnings: [prefill.warning!, decode.warning!],
    };
    const text = renderBench(report);
    expect(text).toMatch(/median \(min-max\) of 5 interleaved runs/);
    const s = first.spread.prefillTokensPerSecond;
    expect(text).toContain(`${s.median.toFixed(1)} (${s.min.toFixed(1)}-${s.max.toFixed(1)})`);
    expect(text).toMatch(/shortgpt: {2}prefill 1\.12× \(rounds 0\.97-1\.62×\) ⚠ noisy, decode [\d.]+× \(rounds [\d.]+-[\d.]+×\) ⚠ noisy as fast/);
    expect(text.split("\n").filter((l) => l.startsWith("warning: "))).toEqual(report.warnings.map((w) => `warning: ${w}`));
  });
});
