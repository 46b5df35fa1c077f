/**
 * The paper's core claim on a real model: removing the k blocks with the
 * lowest Block Influence costs less perplexity than removing k blocks at
 * random. SmolLM2-135M, calibrated on nlp-corpus, evaluated on WikiText-2
 * (../shared/data; held-out nlp-corpus documents where that is absent), k = 3
 * and 6, against the mean of 5 random sets. The iterative and block
 * strategies are measured for the same k and reported.
 *
 * Removal is simulated with skip masks (proved equal to the written file by
 * test/engine-skip.test.ts); one pruned file per k is also written and run in
 * llama.cpp.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { layerRules } from "../src/arch/layer-rules.js";
import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { pruneLayers } from "../src/gguf/prune.js";
import { openModel, type Model } from "../src/model.js";
import { planRemoval } from "../src/plan/plan.js";
import { scoreModel, type ScoreResult } from "../src/score/score.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, sharedData } from "./helpers/data.js";
import { generateGreedy, loadReferenceModel } from "./helpers/llama-reference.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-claim-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EVAL_CHUNKS = 6;
const evalText = SHARED_DATA
  ? { name: "wikitext-2 test", text: readFileSync(sharedData("text/wikitext-2-raw/wiki.test.raw"), "utf8") }
  : { name: "nlp-corpus held-out documents", text: nlpCorpusText({ documents: [99, 97, 95, 93, 91, 89], maxCharacters: 120_000 }).text };
if (!SHARED_DATA) console.warn("[claim] ../shared/data is absent: perplexity is measured on held-out nlp-corpus text instead of WikiText-2");

function randomSets(blocks: number, k: number, count: number, seed: number): number[][] {
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x / 2 ** 32;
  };
  const sets: number[][] = [];
  while (sets.length < count) {
    const s = new Set<number>();
    while (s.size < k) s.add(Math.floor(next() * blocks));
    const sorted = [...s].sort((a, b) => a - b);
    if (!sets.some((t) => t.join() === sorted.join())) sets.push(sorted);
  }
  return sets;
}

describe("ShortGPT on SmolLM2-135M", () => {
  let model: Model;
  let scores: ScoreResult;
  let baseline: number;
  const ppl = async (skip: readonly number[]) => (await model.perplexity(evalText.text, { ctx: 512, chunks: EVAL_CHUNKS, skip })).perplexity;
  const calibration = nlpCorpusText({ documents: Array.from({ length: 30 }, (_, i) => 2 * i), maxCharacters: 250_000 });

  beforeAll(async () => {
    model = await openModel(SMOLLM2_PATH, { threads: 2 });
    scores = await scoreModel(model, calibration, { windows: 32, spans: [3, 6] });
    baseline = await ppl([]);
    console.log(`[claim] SmolLM2-135M perplexity on ${evalText.name} (${EVAL_CHUNKS} x 512 tokens), no block removed: ${baseline.toFixed(3)}`);
  });
  afterAll(() => model?.close());

  it.each([3, 6])("removing the %i lowest-BI blocks beats the mean of 5 random sets", async (k) => {
    const rules = layerRules(model.file);
    const planning = { blockCount: 30, bi: scores.report.layers.map((l) => l.bi), angular: new Map([...scores.angularBySpan].map(([n, v]) => [n, v.map((x) => x ?? Infinity)])) };
    const bi = await planRemoval(planning, { remove: k, strategy: "bi", rules });
    const block = await planRemoval(planning, { remove: k, strategy: "block", rules });
    const iterative = await planRemoval(planning, {
      remove: k,
      strategy: "iterative",
      rules,
      rescore: async (skipped) =>
        skipped.length === 0 ? planning.bi : (await scoreModel(model, calibration, { windows: 8, skip: skipped })).report.layers.map((l) => l.bi),
    });
    const results: { label: string; layers: number[]; perplexity: number }[] = [];
    for (const [label, layers] of [
      ["bi", bi.layers],
      ["iterative", iterative.layers],
      ["block", block.layers],
      ...randomSets(30, k, 5, 1000 + k).map((s, i) => [`random ${i + 1}`, s] as const),
    ] as const) {
      results.push({ label, layers: [...layers], perplexity: await ppl(layers) });
    }
    for (const r of results) console.log(`[claim] k=${k} ${r.label.padEnd(9)} remove ${r.layers.join(",").padEnd(18)} perplexity ${r.perplexity.toFixed(3)}`);
    const randomMean = results.filter((r) => r.label.startsWith("random")).reduce((a, r) => a + r.perplexity, 0) / 5;
    const biPpl = results[0]!.perplexity;
    console.log(`[claim] k=${k}: bi ${biPpl.toFixed(3)} vs random mean ${randomMean.toFixed(3)} (baseline ${baseline.toFixed(3)})`);
    expect(biPpl).toBeGreaterThan(baseline);
    expect(biPpl).toBeLessThan(randomMean);
    expect(new Set(bi.layers).size).toBe(k);
  }, 900_000);

  it("writes a pruned file that llama.cpp loads and generates from", async () => {
    const layers = scores.report.order.slice(0, 6);
    const out = join(dir, "smollm2-minus-6.gguf");
    await pruneLayers(SMOLLM2_PATH, out, layers);
    const llama = await loadReferenceModel(out);
    try {
      const ids = await generateGreedy(llama, llama.tokenize("The capital of France is") as number[], 8);
      expect(ids).toHaveLength(8);
    } finally {
      await llama.dispose();
    }
  });
});

describe("the block strategy on Gemma 3", () => {
  it("returns a contiguous, pattern-valid run", async () => {
    const gemma = await openModel(GEMMA3_PATH, { threads: 2 });
    try {
      const text = nlpCorpusText({ documents: [10, 11], maxCharacters: 80_000 });
      const s = await scoreModel(gemma, text, { windows: 8, ctx: 128, spans: [6, 4] });
      const rules = layerRules(gemma.file);
      const planning = { blockCount: 18, bi: s.report.layers.map((l) => l.bi), angular: new Map([...s.angularBySpan].map(([n, v]) => [n, v.map((x) => x ?? Infinity)])) };
      const six = await planRemoval(planning, { remove: 6, strategy: "block", rules });
      expect(six.layers).toHaveLength(6);
      expect(six.layers[5]! - six.layers[0]!).toBe(5);
      // 4 is not a multiple of gemma3's period 6: only the run that ends at the last block is valid.
      const four = await planRemoval(planning, { remove: 4, strategy: "block", rules });
      expect(four.layers).toEqual([14, 15, 16, 17]);
      console.log(`[claim] Gemma 3 block strategy: 6 -> ${six.layers.join(",")}; angular(span 6) = ${s.angularBySpan.get(6)!.map((v) => (v === null ? "-" : v.toFixed(3))).join(" ")}`);
    } finally {
      gemma.close();
    }
  });
});
