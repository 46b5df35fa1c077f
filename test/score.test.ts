/**
 * ShortGPT scoring end to end on a real model: Block Influence of every block
 * of SmolLM2-135M on nlp-corpus text, its stability across disjoint
 * calibration halves, the JSON output against its schema, abort, and two
 * models scoring at once.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import Ajv2020 from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { AbortError } from "../src/errors.js";
import { openModel, type Model } from "../src/model.js";
import { SCORE_REPORT_SCHEMA } from "../src/report/score-schema.js";
import type { ScoreReport } from "../src/score/report-types.js";
import { rankBlocks, scoreModel } from "../src/score/score.js";
import { runCli } from "./helpers/cli.js";
import { GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-score-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Spearman rank correlation of two score vectors (no ties expected in real BI values). */
function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (v: readonly number[]) => {
    const r = new Array<number>(v.length);
    [...v.keys()].sort((i, j) => v[i]! - v[j]!).forEach((idx, k) => (r[idx] = k));
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  const d2 = ra.reduce((s, x, i) => s + (x - rb[i]!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

const EVEN = Array.from({ length: 20 }, (_, i) => 2 * i);
const ODD = Array.from({ length: 20 }, (_, i) => 2 * i + 1);

describe("Block Influence on SmolLM2-135M (nlp-corpus calibration)", () => {
  let model: Model;
  let halfA: ScoreReport;
  let halfB: ScoreReport;

  beforeAll(async () => {
    model = await openModel(SMOLLM2_PATH, { threads: 2 });
    // Two disjoint halves of the corpus, 32 windows x 256 tokens each.
    halfA = (await scoreModel(model, nlpCorpusText({ documents: EVEN, maxCharacters: 200_000 }), { windows: 32 })).report;
    halfB = (await scoreModel(model, nlpCorpusText({ documents: ODD, maxCharacters: 200_000 }), { windows: 32 })).report;
  });
  afterAll(() => model?.close());

  it("gives a finite BI in [0, 2] for every block, and angular distances in [0, 1]", () => {
    for (const r of [halfA, halfB]) {
      expect(r.layers).toHaveLength(30);
      expect(r.windows).toBe(32);
      expect(r.tokens).toBe(32 * 256);
      for (const l of r.layers) {
        expect(Number.isFinite(l.bi)).toBe(true);
        expect(l.bi).toBeGreaterThanOrEqual(0);
        expect(l.bi).toBeLessThanOrEqual(2);
        expect(l.rm).toBeGreaterThan(0);
        // Span 1: x_i against x_i+1, defined for every block (x_30 leaves the last one).
        expect(l.angular!).toBeGreaterThanOrEqual(0);
        expect(l.angular!).toBeLessThanOrEqual(1);
        expect(l.angularAllPositions!).toBeGreaterThanOrEqual(0);
      }
    }
    console.log(`[score] SmolLM2 BI profile (even documents): ${halfA.layers.map((l) => l.bi.toFixed(4)).join(" ")}`);
    console.log(`[score] most removable first: ${halfA.order.join(",")}`);
  });

  it("ranks blocks the same way on two disjoint calibration halves (Spearman >= 0.9)", () => {
    const rho = spearman(halfA.layers.map((l) => l.bi), halfB.layers.map((l) => l.bi));
    console.log(`[score] Spearman rank correlation of BI between disjoint halves: ${rho.toFixed(4)}`);
    expect(rho).toBeGreaterThanOrEqual(0.9);
  });

  it("orders blocks from most to least removable by the chosen metric", () => {
    expect(halfA.order).toEqual(rankBlocks(halfA.layers, "bi"));
    const bis = halfA.order.map((i) => halfA.layers[i]!.bi);
    expect(bis).toEqual([...bis].sort((a, b) => a - b));
  });

  it("rejects an aborted scoring pass with AbortError, and the next pass works", async () => {
    const controller = new AbortController();
    const text = nlpCorpusText({ documents: [40, 41], maxCharacters: 100_000 });
    const pass = scoreModel(model, text, { windows: 16, signal: controller.signal, onProgress: () => controller.abort() });
    await expect(pass).rejects.toBeInstanceOf(AbortError);
    const again = await scoreModel(model, text, { windows: 2 });
    expect(again.report.windows).toBe(2);
  });

  it("refuses calibration text shorter than one window", async () => {
    await expect(scoreModel(model, "Too short.", { ctx: 256 })).rejects.toMatchObject({ code: "ERR_CALIBRATION_TOO_SHORT" });
  });
});

describe("two models scoring at once in one process", () => {
  it("gives each the same result as scoring alone", async () => {
    const text = nlpCorpusText({ documents: [50], maxCharacters: 40_000 });
    const [a, b] = await Promise.all([openModel(SMOLLM2_PATH, { threads: 1 }), openModel(GEMMA3_PATH, { threads: 1 })]);
    try {
      const [ra, rb] = await Promise.all([scoreModel(a, text, { windows: 2, ctx: 64 }), scoreModel(b, text, { windows: 2, ctx: 64 })]);
      const alone = await scoreModel(a, text, { windows: 2, ctx: 64 });
      expect(ra.report.layers.map((l) => l.bi)).toEqual(alone.report.layers.map((l) => l.bi));
      expect(rb.report.blockCount).toBe(18);
      expect(rb.report.architecture).toBe("gemma3");
    } finally {
      a.close();
      b.close();
    }
  });
});

describe("shortgpt score --json", () => {
  it("writes JSON that validates against the published schema", () => {
    const text = join(dir, "calib.txt");
    writeFileSync(text, nlpCorpusText({ documents: [60, 61], maxCharacters: 60_000 }).text);
    const out = join(dir, "scores.json");
    const r = runCli(["score", SMOLLM2_PATH, "--text", text, "--windows", "4", "--ctx", "128", "--json", out, "--threads", "2"], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    // Not a terminal: no bar, but sparse progress lines on stderr (stdout stays the table).
    expect(r.stderr).toMatch(/^scoring: 100% \(\d+(\.\d)? tokens\/s\)$/m);
    expect(r.stderr).not.toContain("\u001b[");
    const json = JSON.parse(readFileSync(out, "utf8")) as ScoreReport;
    const ajv = new Ajv2020.default({ allErrors: true, strict: true });
    const validate = ajv.compile(SCORE_REPORT_SCHEMA);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(json).toMatchObject({ model: SMOLLM2_PATH, architecture: "llama", blockCount: 30, metric: "bi", ctx: 128, windows: 4, tokens: 512 });
    expect(r.stdout).toMatch(/most removable/);
    // The schema is strict enough to catch a broken report.
    expect(validate({ ...json, layers: [{ ...json.layers[0], bi: "high" }] })).toBe(false);
  });
});
