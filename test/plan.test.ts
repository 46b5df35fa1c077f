/**
 * Removal planning under layer-index rules: the dynamic program must find the
 * cheapest valid set (checked against brute force over every subset), runs
 * must respect the period, and iterative selection must re-score and stay valid.
 */
import { describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { layerRules } from "../src/arch/layer-rules.js";
import { iterativeSelection } from "../src/plan/iterative.js";
import { planRemoval, removalCount } from "../src/plan/plan.js";
import { cheapestValidRun, cheapestValidSet, isValidSelection, type SelectionRules } from "../src/plan/select.js";
import { GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function* subsets(n: number, k: number, start = 0, prefix: number[] = []): Generator<number[]> {
  if (prefix.length === k) {
    yield prefix;
    return;
  }
  for (let i = start; i <= n - (k - prefix.length); i++) yield* subsets(n, k, i + 1, [...prefix, i]);
}

function bruteForce(cost: number[], n: number, rules: SelectionRules): number {
  let best = Number.POSITIVE_INFINITY;
  for (const s of subsets(rules.removableBlocks, n)) {
    if (!isValidSelection(s, rules)) continue;
    best = Math.min(best, s.reduce((a, i) => a + cost[i]!, 0));
  }
  return best;
}

const sum = (cost: number[], set: number[]) => set.reduce((a, i) => a + cost[i]!, 0);

describe("cheapestValidSet", () => {
  it("is the n lowest blocks when blocks are index-independent", () => {
    const r = rng(1);
    for (let trial = 0; trial < 50; trial++) {
      const cost = Array.from({ length: 30 }, () => r());
      const n = 1 + Math.floor(r() * 12);
      const set = cheapestValidSet(cost, n, { removableBlocks: 30, period: 1, lastBlockFixed: false });
      const lowest = [...cost.keys()].sort((a, b) => cost[a]! - cost[b]!).slice(0, n);
      expect(sum(cost, set)).toBeCloseTo(sum(cost, lowest), 12);
      expect(set).toHaveLength(n);
    }
  });

  it.each([
    { period: 2, R: 14, fixed: false },
    { period: 4, R: 13, fixed: false },
    { period: 6, R: 18, fixed: false },
    { period: 4, R: 12, fixed: true },
    { period: 3, R: 11, fixed: true },
  ])("equals brute force over every subset (period $period, $R blocks, last fixed: $fixed)", ({ period, R, fixed }) => {
    const rules = { removableBlocks: R, period, lastBlockFixed: fixed };
    const r = rng(period * 100 + R);
    for (let trial = 0; trial < 12; trial++) {
      const cost = Array.from({ length: R }, () => Math.round(r() * 1000) / 1000);
      for (const n of [1, 2, period, period + 1, Math.min(R - 2, 2 * period)]) {
        if (n >= R) continue;
        const expected = bruteForce(cost, n, rules);
        if (!Number.isFinite(expected)) {
          expect(() => cheapestValidSet(cost, n, rules)).toThrow(expect.objectContaining({ code: "ERR_PRUNE_COUNT" }));
          continue;
        }
        const set = cheapestValidSet(cost, n, rules);
        expect(set).toHaveLength(n);
        expect(isValidSelection(set, rules)).toBe(true);
        expect(sum(cost, set)).toBeCloseTo(expected, 9);
      }
    }
  });

  it("refuses impossible counts", () => {
    const rules = { removableBlocks: 6, period: 1, lastBlockFixed: false };
    expect(() => cheapestValidSet([1, 2, 3, 4, 5, 6], 0, rules)).toThrow(expect.objectContaining({ code: "ERR_PRUNE_COUNT" }));
    expect(() => cheapestValidSet([1, 2, 3, 4, 5, 6], 6, rules)).toThrow(expect.objectContaining({ code: "ERR_PRUNE_COUNT" }));
  });
});

describe("cheapestValidRun", () => {
  const gemma = { removableBlocks: 18, period: 6, lastBlockFixed: false };
  it("takes the lowest-scoring start among valid runs", () => {
    const cost = Array.from({ length: 18 }, (_, i) => (i === 7 ? 0.01 : 0.5 + i / 100));
    expect(cheapestValidRun(cost, 6, gemma)).toEqual([7, 8, 9, 10, 11, 12]);
  });
  it("allows a run that is not a multiple of the period only at the end", () => {
    const cost = Array.from({ length: 18 }, (_, i) => (i === 2 ? 0 : 1));
    expect(cheapestValidRun(cost, 4, gemma)).toEqual([14, 15, 16, 17]);
  });
});

describe("iterativeSelection", () => {
  it("removes one block per step and re-scores with the skipped set", async () => {
    const seen: number[][] = [];
    // Scores where the best block depends on what was removed: the neighbour of the last removal becomes cheap.
    const rescore = async (skipped: readonly number[]) => {
      seen.push([...skipped]);
      return Array.from({ length: 10 }, (_, i) => (skipped.length > 0 && i === Math.min(...skipped) - 1 ? 0 : i === 8 ? 0.1 : 1));
    };
    const { removed, steps } = await iterativeSelection(rescore, 3, { removableBlocks: 10, period: 1, lastBlockFixed: false });
    expect(removed).toEqual([6, 7, 8]);
    expect(steps.map((s) => s.removed)).toEqual([[8], [7], [6]]);
    expect(seen).toEqual([[], [8], [7, 8]]);
  });

  it("keeps period-P models valid after every step", async () => {
    const rules = { removableBlocks: 18, period: 6, lastBlockFixed: false };
    const r = rng(7);
    const rescore = async () => Array.from({ length: 18 }, () => r());
    for (const n of [1, 5, 6, 7, 12]) {
      const { removed, steps } = await iterativeSelection(rescore, n, rules);
      expect(removed).toHaveLength(n);
      expect(isValidSelection(removed, rules)).toBe(true);
      let acc: number[] = [];
      for (const s of steps) {
        acc = [...acc, ...s.removed].sort((a, b) => a - b);
        expect(isValidSelection(acc, rules)).toBe(true);
      }
    }
  });
});

describe("planRemoval on real models' rules", () => {
  it("plans a pattern-valid bi set for Gemma 3 and any set for SmolLM2", async () => {
    const gemmaRules = layerRules(readGguf(GEMMA3_PATH));
    const bi = Array.from({ length: 18 }, (_, i) => [0.3, 0.1, 0.2, 0.05, 0.4, 0.3, 0.2, 0.2, 0.1, 0.3, 0.2, 0.25, 0.15, 0.1, 0.12, 0.2, 0.3, 0.5][i]!);
    const plan = await planRemoval({ blockCount: 18, bi, angular: new Map() }, { remove: 6, rules: gemmaRules });
    expect(plan.layers).toHaveLength(6);
    expect(isValidSelection(plan.layers, { removableBlocks: 18, period: 6, lastBlockFixed: false })).toBe(true);
    const forced = await planRemoval({ blockCount: 18, bi, angular: new Map() }, { remove: 6, rules: gemmaRules, force: true });
    expect(forced.layers).toEqual([1, 3, 8, 12, 13, 14]);

    const smolRules = layerRules(readGguf(SMOLLM2_PATH));
    const smolBi = Array.from({ length: 30 }, (_, i) => Math.abs(Math.sin(i)));
    const smol = await planRemoval({ blockCount: 30, bi: smolBi, angular: new Map() }, { ratio: 0.2, rules: smolRules });
    expect(smol.count).toBe(6);
    expect(smol.layers).toEqual([...smolBi.keys()].sort((a, b) => smolBi[a]! - smolBi[b]!).slice(0, 6).sort((a, b) => a - b));
  });

  it("needs angular scores of the right span for the block strategy", async () => {
    const rules = layerRules(readGguf(SMOLLM2_PATH));
    await expect(planRemoval({ blockCount: 30, bi: new Array(30).fill(0.1), angular: new Map() }, { remove: 3, strategy: "block", rules })).rejects.toMatchObject({
      code: "ERR_MISSING_SCORES",
    });
  });

  it("counts from remove or ratio, not both", () => {
    expect(removalCount(30, { ratio: 0.27 })).toBe(8);
    expect(() => removalCount(30, { remove: 2, ratio: 0.1 })).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
  });
});
