/**
 * The ShortGPT commands as a user runs them: score to JSON, prune --remove
 * from saved scores or fresh calibration with every strategy, --eval and
 * --report, and the usage errors.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { readGguf } from "../src/gguf/read.js";
import type { ScoreReport } from "../src/score/report-types.js";
import { runCli } from "./helpers/cli.js";
import { GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-cli-score-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  return runCli(args, { timeoutMs: 600_000 });
}

const calib = join(dir, "calib.txt");
const evalText = join(dir, "eval.txt");
const scoresPath = join(dir, "scores.json");
const small = ["--windows", "4", "--ctx", "128", "--threads", "2"];

beforeAll(() => {
  writeFileSync(calib, nlpCorpusText({ documents: [20, 22], maxCharacters: 60_000 }).text);
  writeFileSync(evalText, nlpCorpusText({ documents: [99], maxCharacters: 20_000 }).text);
  const r = run("score", SMOLLM2_PATH, "--text", calib, ...small, "--json", scoresPath, "--span", "2");
  expect(r.code, r.stderr).toBe(0);
});

describe("shortgpt prune --remove", () => {
  it("uses saved scores: the lowest-BI blocks, with strategy and parameters in the JSON", () => {
    const scores = JSON.parse(readFileSync(scoresPath, "utf8")) as ScoreReport;
    const out = join(dir, "from-scores.gguf");
    const r = run("prune", SMOLLM2_PATH, "-o", out, "--remove", "3", "--scores", scoresPath, "--json");
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.removed).toEqual([...scores.order.slice(0, 3)].sort((a, b) => a - b));
    expect(json).toMatchObject({ strategy: "bi", blocksBefore: 30, blocksAfter: 27 });
    expect(json.parametersAfter).toBeLessThan(json.parametersBefore);
    const pruned = readGguf(out);
    expect(pruned.get("shortgpt.strategy")!.value).toBe("bi");
    expect(pruned.get("shortgpt.metric")!.value).toBe("bi");
    expect(String(pruned.get("shortgpt.calibration")!.value)).toMatch(/4 windows x 128 tokens/);
  });

  it("--ratio counts a fraction of the blocks", () => {
    const r = run("prune", SMOLLM2_PATH, "-o", join(dir, "ratio.gguf"), "--ratio", "0.1", "--scores", scoresPath, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).removed).toHaveLength(3);
  });

  it("the block strategy needs angular scores of the same span", () => {
    const ok = run("prune", SMOLLM2_PATH, "-o", join(dir, "block2.gguf"), "--remove", "2", "--strategy", "block", "--scores", scoresPath, "--json");
    expect(ok.code, ok.stderr).toBe(0);
    const removed = JSON.parse(ok.stdout).removed as number[];
    expect(removed[1]! - removed[0]!).toBe(1);
    const missing = run("prune", SMOLLM2_PATH, "-o", join(dir, "block3.gguf"), "--remove", "3", "--strategy", "block", "--scores", scoresPath);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--span 3/);
    expect(missing.stderr).toMatch(/ERR_MISSING_SCORES/);
  });

  it("iterative: re-scores, evaluates before and after, and writes the report", () => {
    const out = join(dir, "iterative.gguf");
    const report = join(dir, "report.html");
    const r = run("prune", SMOLLM2_PATH, "-o", out, "--remove", "2", "--strategy", "iterative", "--text", calib, ...small, "--eval", evalText, "--eval-ctx", "128", "--eval-chunks", "3", "--report", report, "--json");
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.removed).toHaveLength(2);
    expect(json.strategy).toBe("iterative");
    expect(json.evaluation).toMatchObject({ ctx: 128, chunks: 3, tokensScored: 3 * 63 });
    expect(json.evaluation.perplexityAfter).toBeGreaterThan(json.evaluation.perplexityBefore);
    const html = readFileSync(report, "utf8");
    expect(html).toMatch(/Before and after/);
    expect(html.match(/class="bar highlighted"/g)?.length).toBe(4); // 2 blocks in 2 charts
  });

  it("keeps Gemma 3 pattern-valid: 3 blocks by BI can only be a run at the end", () => {
    const gemmaScores = join(dir, "gemma-scores.json");
    expect(run("score", GEMMA3_PATH, "--text", calib, ...small, "--json", gemmaScores).code).toBe(0);
    const r = run("prune", GEMMA3_PATH, "-o", join(dir, "gemma3.gguf"), "--remove", "3", "--scores", gemmaScores, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).removed).toEqual([15, 16, 17]);
  });
});

describe("usage and input errors", () => {
  it.each([
    ["two ways of choosing", ["--layers", "1", "--remove", "2"]],
    ["no way of choosing", []],
    ["a ratio out of range", ["--ratio", "1.5", "--scores", "x.json"]],
    ["an unknown strategy", ["--remove", "2", "--strategy", "magic", "--scores", "x.json"]],
    ["no calibration text", ["--remove", "2"]],
    ["iterative from saved scores", ["--remove", "2", "--strategy", "iterative", "--scores", "x.json"]],
  ])("exits 2 on %s", (_name, args) => {
    const r = run("prune", SMOLLM2_PATH, "-o", join(dir, "never.gguf"), ...args);
    expect(r.code).toBe(2);
    expect(existsSync(join(dir, "never.gguf"))).toBe(false);
  });

  it("exits 1 when saved scores belong to another model", () => {
    const gemmaScores = join(dir, "gemma-scores-2.json");
    writeFileSync(gemmaScores, JSON.stringify({ ...JSON.parse(readFileSync(scoresPath, "utf8")), blockCount: 18, layers: [] }));
    const r = run("prune", SMOLLM2_PATH, "-o", join(dir, "never.gguf"), "--remove", "2", "--scores", gemmaScores);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/18 blocks, but the model has 30/);
    expect(r.stderr).toMatch(/ERR_SCORES_FILE/);
  });

  it("exits 1 with ERR_CALIBRATION_TOO_SHORT on too little text", () => {
    const tiny = join(dir, "tiny.txt");
    writeFileSync(tiny, "Just a few words.");
    const r = run("score", SMOLLM2_PATH, "--text", tiny);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_CALIBRATION_TOO_SHORT/);
  });
});
