/**
 * The llama.cpp reference harness itself (test/helpers/llama-reference.ts) and its fixtures
 * (test/helpers/reference-fixtures.ts): the engine's tests trust these numbers, so they are
 * checked against independent references (llama2.c's expected outputs, a numpy float64 forward),
 * against the rules of llama-perplexity, against each other (fast vs full paths, recovery vs
 * direct), and the committed fixtures against a fresh computation.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

import type { LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SHARED_DATA, SMOLLM2_PATH, STORIES_PATH, sharedData } from "./helpers/data.js";
import {
  generateGreedy,
  loadReferenceModel,
  perplexityPlan,
  perplexityTokenize,
  referenceCpuVariant,
  referenceGreedyArgmax,
  referenceNextTokenLogprobs,
  referencePerplexity,
  referencePerplexityChunks,
  referenceVocabSize,
} from "./helpers/llama-reference.js";
import {
  CROSS_VARIANT,
  fixtureVariant,
  idsSha256,
  loadReferenceFixture,
  nextTokenTextIds,
  readFixtureText,
  REFERENCE_MODELS,
  referenceModelUnavailable,
  verifyReferenceFixture,
  type NextTokenFixture,
  type PerplexityFixture,
} from "./helpers/reference-fixtures.js";

// One llama.cpp thread: the numbers do not depend on it (tested below), and on a loaded 2-core
// machine (CI runs test files in parallel) two threads spin at ggml's barriers: generating 200
// stories260K tokens took 135 s with 2 threads and 0.3 s with 1 while other work ran.
const THREADS = 1;
const WIKITEXT = "text/wikitext-2-raw/wiki.test.raw";

interface ExpectedGreedy {
  prompt: string;
  input_ids: number[];
  n_new_tokens: number;
  continuation_ids: number[];
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** English text from the npm package nlp-corpus (a dependency): present in every clone. */
function nlpCorpusSentences(document: number): string {
  const entry = createRequire(import.meta.url).resolve("nlp-corpus"); // <pkg>/src/server/index.js
  const sentences = JSON.parse(readFileSync(join(dirname(entry), "..", "..", "builds", `doc-${document}.json`), "utf8")) as string[];
  return sentences.join(" ");
}

describe.skipIf(!SHARED_DATA)("stories260K: the harness against independent references (needs ../shared/data)", () => {
  let model: LlamaModel;
  beforeAll(async () => {
    model = await loadReferenceModel(STORIES_PATH);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it("greedy outputs reproduce stories260K.expected.json (llama2.c's own expected output for the BOS-only prompt)", async () => {
    const expected = JSON.parse(readFileSync(sharedData("models/stories260K.expected.json"), "utf8")) as { greedy: ExpectedGreedy[] };
    expect(expected.greedy.length).toBeGreaterThanOrEqual(4);
    for (const run of expected.greedy) {
      expect([model.tokens.bos, ...model.tokenize(run.prompt)]).toEqual(run.input_ids);
      expect(await generateGreedy(model, run.input_ids, run.n_new_tokens, THREADS)).toEqual(run.continuation_ids);
      // The fast argmax path, teacher-forced on prompt + continuation, predicts the same tokens.
      const ids = [...run.input_ids, ...run.continuation_ids];
      const positions = run.continuation_ids.map((_, k) => run.input_ids.length - 1 + k);
      expect(await referenceGreedyArgmax(model, ids, { threads: THREADS, positions })).toEqual(run.continuation_ids);
    }
  });

  it("mean next-token NLL equals the independent float64 forward's (stories260K.block_influence.json)", async () => {
    // Tolerance 5e-4 nats on the mean. llama.cpp rounds K and V to f16 (relative 2^-11) and
    // computes in f32; against a float64 numpy forward that moves single positions by ~1.6e-3
    // nats (mean |Δ| measured over 128 wikitext tokens), in both directions, so means over 64 and
    // 320 positions land within 1e-4 (measured: -8.8e-5 and +5.4e-5 with flash attention,
    // +2.4e-5 without). The reference values are rounded to 1e-6. 5e-4 still catches what a
    // harness can get wrong: an off-by-one target (several nats), a missing BOS, a shifted context.
    const reference = JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as {
      inputs: { name: string; ids: number[]; mean_next_token_nll: number }[];
    };
    expect(reference.inputs.map((i) => i.name)).toContain("story");
    for (const input of reference.inputs) {
      for (const flashAttention of ["auto", false] as const) {
        const result = await referenceNextTokenLogprobs(model, input.ids, { threads: THREADS, flashAttention });
        expect(result.items).toHaveLength(input.ids.length - 1);
        expect(result.skipped).toEqual([]);
        const meanNll = -sum(result.items.map((i) => i.logprob)) / result.items.length;
        expect(Math.abs(meanNll - input.mean_next_token_nll), `${input.name}, flashAttention ${String(flashAttention)}: ${meanNll}`).toBeLessThan(5e-4);
        // Renormalization: the harness reports what it removed; tiny at a 512-token vocab.
        expect(result.maxSumError).toBeLessThan(1e-4);
      }
    }
  });

  it("is independent of the thread count; flashAttention 'auto' resolves to enabled on CPU", async () => {
    const ids = (JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as { inputs: { ids: number[] }[] }).inputs[1]?.ids ?? [];
    expect(ids.length).toBeGreaterThan(100);
    const one = await referenceNextTokenLogprobs(model, ids, { threads: 1 });
    const two = await referenceNextTokenLogprobs(model, ids, { threads: 2 });
    const enabled = await referenceNextTokenLogprobs(model, ids, { threads: 2, flashAttention: true });
    const disabled = await referenceNextTokenLogprobs(model, ids, { threads: 2, flashAttention: false });
    expect(two.items).toEqual(one.items);
    expect(enabled.items).toEqual(two.items);
    expect(disabled.items).not.toEqual(two.items); // the two attention paths round differently
  });

  it("recovers a target probability through the logit-biased re-run exactly", async () => {
    const ids = (JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as { inputs: { ids: number[] }[] }).inputs[0]?.ids ?? [];
    const positions = [0, 1, 5, 17, 30, 50, 63];
    const direct = await referenceNextTokenLogprobs(model, ids, { threads: THREADS, positions });
    // recoverBelow 2 > any probability: every position goes through the biased re-run.
    const recovered = await referenceNextTokenLogprobs(model, ids, { threads: THREADS, positions, recoverBelow: 2 });
    expect(recovered.items.every((i) => i.recovered)).toBe(true);
    expect(direct.items.some((i) => i.recovered)).toBe(false);
    for (const [k, item] of recovered.items.entries()) {
      const d = direct.items[k];
      expect(item.position).toBe(d?.position);
      expect(item.argmax).toBe(d?.argmax);
      // One float32 rounding of the biased logit l_t + b: ~1e-7 relative to |l_t + b|.
      expect(Math.abs(item.logprob - (d?.logprob ?? Number.NaN))).toBeLessThan(1e-5);
    }
  });

  it("the argmax-only path agrees with the full distributions; argmax log-probs are ≤ 0 and ≥ every target's", async () => {
    const ids = (JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as { inputs: { ids: number[] }[] }).inputs[1]?.ids ?? [];
    const full = await referenceNextTokenLogprobs(model, ids, { threads: THREADS, positions: ids.map((_, t) => t) });
    const fast = await referenceGreedyArgmax(model, ids, { threads: THREADS });
    expect(fast).toEqual(full.items.map((i) => i.argmax));
    const last = full.items[full.items.length - 1];
    expect(last?.target).toBeNull();
    expect(Number.isNaN(last?.logprob)).toBe(true);
    for (const item of full.items) {
      expect(item.argmaxLogprob).toBeLessThanOrEqual(0);
      if (item.target !== null) expect(item.logprob).toBeLessThanOrEqual(item.argmaxLogprob + 1e-12);
      if (item.target === item.argmax) expect(item.logprob).toBe(item.argmaxLogprob);
    }
  });

  it("the context-shift trap is real: a context exactly as long as the sequence does not hold it", async () => {
    // Why every harness context has length + 1 cells and every evaluation is checked: 300 tokens
    // into a 300-token context come out as 200 (node-llama-cpp shifts before the last batch;
    // 65 into 65 happened to fit).
    const ids = [1, ...model.tokenize("Once upon a time there was a little dog who liked to run in the park. ".repeat(30))].slice(0, 300);
    expect(ids).toHaveLength(300);
    const context = await model.createContext({ contextSize: ids.length, threads: THREADS });
    try {
      const sequence = context.getSequence();
      await sequence.controlledEvaluate(ids as Token[]);
      expect(sequence.contextTokens.length).toBeLessThan(ids.length);
    } finally {
      await context.dispose();
    }
    // The harness's own contexts hold the whole sequence (it throws otherwise).
    expect(await referenceGreedyArgmax(model, ids, { threads: THREADS, positions: [299] })).toHaveLength(1);
  });

  it("rejects what it cannot evaluate", async () => {
    await expect(referenceNextTokenLogprobs(model, [1, 2, 512], { threads: THREADS })).rejects.toThrow(/not a token id/);
    await expect(referenceNextTokenLogprobs(model, [1, 2, 3], { threads: THREADS, positions: [3] })).rejects.toThrow(/outside/);
    await expect(referenceNextTokenLogprobs(model, [1, 2, 3], { threads: THREADS, positions: [1, 1] })).rejects.toThrow(/twice/);
  });

  it("perplexity follows llama-perplexity's tokenization and chunking rules", async () => {
    const text = readFileSync(sharedData(WIKITEXT), "utf8").slice(0, 20000) + "\n";
    const ctx = 128;
    const result = await referencePerplexity(model, text, { ctx, chunks: 6, threads: THREADS });
    // One trailing newline dropped, the whole text tokenized once, BOS prepended (SPM vocab).
    expect(result.droppedTrailingNewline).toBe(true);
    expect(result.addBos).toBe(true);
    expect(result.ids).toEqual([1, ...model.tokenize(text.slice(0, -1))]);
    expect(result.tokenCount).toBe(result.ids.length);
    // Chunks: 6 of 128 tokens; positions 64..126 scored, ctx/2 − 1 = 63 per chunk.
    expect(result.nChunk).toBe(6);
    expect(result.tokensUsed).toBe(6 * ctx);
    expect([result.firstScored, result.lastScored, result.countPerChunk]).toEqual([64, 126, 63]);
    expect(result.count).toBe(6 * (ctx / 2 - 1));
    expect(result.perChunk.map((c) => [c.index, c.count])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, 63]));
    expect(result.nll).toBeCloseTo(sum(result.perChunk.map((c) => c.nll)), 9);
    expect(result.perplexity).toBe(Math.exp(result.nll / result.count));

    // A direct sum over referenceNextTokenLogprobs for chunk 2: the chunk's tokens with the
    // first one *overwritten* by BOS (not inserted), scored at 64..126 against the next token.
    const chunk = result.ids.slice(2 * ctx, 3 * ctx);
    expect(chunk[0]).not.toBe(1);
    chunk[0] = 1;
    const direct = await referenceNextTokenLogprobs(model, chunk, { threads: THREADS, positions: Array.from({ length: 63 }, (_, k) => 64 + k) });
    expect(direct.items.map((i) => i.target)).toEqual(chunk.slice(65, 128));
    const directNll = -sum(direct.items.map((i) => i.logprob));
    expect(Math.abs(directNll - (result.perChunk[2]?.nll ?? Number.NaN))).toBeLessThan(1e-6 * directNll);
    // Inserting BOS instead (shifting the chunk) gives a different number: the test can tell.
    const inserted = await referenceNextTokenLogprobs(model, [1, ...result.ids.slice(2 * ctx, 3 * ctx - 1)], {
      threads: THREADS,
      positions: Array.from({ length: 63 }, (_, k) => 64 + k),
    });
    expect(Math.abs(-sum(inserted.items.map((i) => i.logprob)) - directNll)).toBeGreaterThan(1e-3);
  });

  it("perplexity: chunk cap, odd ctx, the 2·ctx minimum, one trailing newline only", async () => {
    const base = readFileSync(sharedData(WIKITEXT), "utf8").slice(0, 6000).trimEnd();
    const tokens = perplexityTokenize(model, base);
    expect(tokens.droppedTrailingNewline).toBe(false);
    expect(perplexityTokenize(model, base + "\n").ids).toEqual(tokens.ids);
    expect(perplexityTokenize(model, base + "\n\n").ids).toEqual([...tokens.ids, 13]); // <0x0A>
    const n = tokens.ids.length;
    expect(perplexityPlan(n, 100).nChunk).toBe(Math.floor(n / 100));
    expect(perplexityPlan(n, 100, 3).nChunk).toBe(3);
    expect(perplexityPlan(n, 100, 10_000).nChunk).toBe(Math.floor(n / 100));
    const odd = perplexityPlan(n, 65);
    expect([odd.firstScored, odd.lastScored, odd.countPerChunk]).toEqual([32, 63, 32]);
    expect(() => perplexityPlan(2 * 300 - 1, 300)).toThrow(/at least 2·ctx/);
    expect(() => perplexityPlan(n, 100, 0)).toThrow(/positive/);
    const chunks = await referencePerplexityChunks(model, tokens, perplexityPlan(n, 65, 2), [1, 0], { threads: THREADS });
    expect(chunks.map((c) => [c.index, c.count])).toEqual([
      [1, 32],
      [0, 32],
    ]);
  });
});

describe("SmolLM2-135M: a vocab without BOS, and the float32 softmax bias", () => {
  let model: LlamaModel;
  beforeAll(async () => {
    model = await loadReferenceModel(SMOLLM2_PATH);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it("perplexity neither prepends nor overwrites BOS when the vocab adds none", async () => {
    const text = nlpCorpusSentences(0).slice(0, 4000);
    expect(model.tokens.shouldPrependBosToken).toBe(false);
    const ctx = 64;
    const result = await referencePerplexity(model, text, { ctx, chunks: 2, threads: THREADS });
    expect(result.addBos).toBe(false);
    expect(result.ids).toEqual(model.tokenize(text));
    expect(result.count).toBe(2 * (ctx / 2 - 1));
    const chunk = result.ids.slice(ctx, 2 * ctx); // chunk 1, as is
    const direct = await referenceNextTokenLogprobs(model, chunk, { threads: THREADS, positions: Array.from({ length: 31 }, (_, k) => 32 + k) });
    const directNll = -sum(direct.items.map((i) => i.logprob));
    expect(Math.abs(directNll - (result.perChunk[1]?.nll ?? Number.NaN))).toBeLessThan(1e-6 * directNll);
    // node-llama-cpp's float32 softmax sums to more than 1 at a 49k vocab (lost tail terms):
    // the renormalization is not a no-op here.
    expect(direct.maxSumError).toBeGreaterThan(1e-5);
    expect(direct.maxSumError).toBeLessThan(1e-2);
  });
});

describe("reference fixtures (test/fixtures/reference)", () => {
  it.skipIf(referenceModelUnavailable("smollm2-135m") !== undefined)("refuses a fixture whose model changed, that came from another node-llama-cpp, or that records no CPU variant", async () => {
    const fixture = await loadReferenceFixture("smollm2-135m", "perplexity");
    const stale = { ...fixture, model: { ...fixture.model, sha256: "0".repeat(64) } };
    await expect(verifyReferenceFixture(stale, "smollm2-135m", "perplexity", "stale copy")).rejects.toThrow(/the model changed/);
    const otherVersion = { ...fixture, generator: { ...fixture.generator, nodeLlamaCpp: "3.0.0" } };
    await expect(verifyReferenceFixture(otherVersion, "smollm2-135m", "perplexity", "old copy")).rejects.toThrow(/node-llama-cpp 3\.0\.0/);
    const { cpuVariant: _, ...withoutVariant } = fixture.generator;
    await expect(verifyReferenceFixture({ ...fixture, generator: withoutVariant as typeof fixture.generator }, "smollm2-135m", "perplexity", "older copy")).rejects.toThrow(
      /records no ggml CPU variant/,
    );
  });

  for (const entry of REFERENCE_MODELS) {
    const unavailable = referenceModelUnavailable(entry.id);
    describe.skipIf(unavailable !== undefined)(`${entry.id}${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
      let perplexity: PerplexityFixture;
      let nextToken: NextTokenFixture;
      let model: LlamaModel;
      beforeAll(async () => {
        perplexity = await loadReferenceFixture(entry.id, "perplexity"); // checks the model's sha256
        nextToken = await loadReferenceFixture(entry.id, "next-token");
        model = await loadReferenceModel(entry.path);
      });
      afterAll(async () => {
        await model?.dispose();
      });

      it("perplexity fixture: consistent numbers, both attention variants", () => {
        const s = perplexity.settings;
        expect([s.ctx, s.chunks, s.firstScored, s.lastScored, s.countPerChunk]).toEqual([512, 20, 256, 510, 255]);
        expect(s.bosOverwritesChunkStart).toBe(model.tokens.shouldPrependBosToken);
        expect(perplexity.variants.map((v) => v.flashAttention)).toEqual(["auto", false]);
        for (const v of perplexity.variants) {
          expect(v.perChunk).toHaveLength(20);
          expect(v.perChunk.every((c) => c.count === 255)).toBe(true);
          expect(v.count).toBe(20 * 255);
          expect(v.nll).toBeCloseTo(sum(v.perChunk.map((c) => c.nll)), 6);
          expect(v.perplexity).toBeCloseTo(Math.exp(v.nll / v.count), 9);
          expect(v.perplexity).toBeGreaterThan(1);
        }
      });

      it.skipIf(!SHARED_DATA)("texts and tokenizations reproduce from ../shared/data (sha256s)", () => {
        const text = readFixtureText(perplexity.text);
        const tokens = perplexityTokenize(model, text);
        expect(tokens.ids.length).toBe(perplexity.tokenization.tokenCount);
        expect(idsSha256(tokens.ids.slice(0, perplexity.tokenization.tokensUsed))).toBe(perplexity.tokenization.usedIdsSha256);
        expect(nextToken.texts.map((t) => t.name)).toEqual(["pg84", "pg1342", "pg2701"]);
        for (const t of nextToken.texts) {
          const ids = [...(nextToken.settings.addBos ? [model.tokens.bos as number] : []), ...model.tokenize(readFixtureText(t.text))].slice(0, t.tokens);
          expect(idsSha256(ids)).toBe(t.idsSha256);
          expect(nextTokenTextIds(model, nextToken, t)).toEqual(ids);
          for (const v of t.variants) {
            expect([v.argmax.length, v.argmaxLogprob.length, v.targetLogprob.length]).toEqual([t.tokens, t.tokens, t.tokens - 1]);
            expect(v.argmax.every((id) => Number.isInteger(id) && id >= 0 && id < referenceVocabSize(model))).toBe(true);
          }
        }
      });

      it.skipIf(!SHARED_DATA)("a fresh computation reproduces the fixture: bit for bit under its CPU variant, within llama.cpp's cross-variant spread under another", async () => {
        // llama.cpp's numbers depend on the ggml CPU variant it loads (one per x86-64 generation),
        // not on the thread count: the fixture's own variant must give its exact bits; another
        // variant (this CPU's, or scripts/llama-cpu-variant.mjs) is held to CROSS_VARIANT, the
        // measured spread between variants (see reference-fixtures.ts).
        const variant = await referenceCpuVariant();
        const exact = variant === nextToken.generator.cpuVariant;
        const tolerance = CROSS_VARIANT[entry.id];
        console.log(`[reference-harness] ${entry.id}: llama.cpp loads ${variant}, the fixture was recorded with ${nextToken.generator.cpuVariant}: ${exact ? "bit for bit" : "within the cross-variant spread"}`);
        const pg84 = nextToken.texts[0];
        if (!pg84) throw new Error("no pg84 text");
        const ids = nextTokenTextIds(model, nextToken, pg84);
        for (const flashAttention of ["auto", false] as const) {
          const ref = fixtureVariant(pg84, flashAttention);
          // The argmax at all 128 positions (fast path).
          const argmax = await referenceGreedyArgmax(model, ids, { threads: THREADS, flashAttention });
          if (exact) expect(argmax).toEqual(ref.argmax);
          else expect(argmax.filter((a, t) => a === ref.argmax[t]).length / argmax.length, `flashAttention ${String(flashAttention)}`).toBeGreaterThanOrEqual(tolerance.greedyAgreement);
        }
        // Full distributions at a few positions (each costs ~0.2 s at Gemma's 262k vocab). Exact:
        // the renormalized ln p is a deterministic function of the same float32 distribution.
        const positions = [0, 1, 63, 126];
        const fresh = await referenceNextTokenLogprobs(model, ids, { threads: THREADS, positions });
        const ref = fixtureVariant(pg84, "auto");
        for (const item of fresh.items) {
          if (exact) expect(item.argmax).toBe(ref.argmax[item.position]);
          const bound = exact ? 1e-5 : tolerance.logprob;
          expect(Math.abs(item.argmaxLogprob - (ref.argmaxLogprob[item.position] ?? Number.NaN)), `position ${item.position}`).toBeLessThan(bound);
          expect(Math.abs(item.logprob - (ref.targetLogprob[item.position] ?? Number.NaN)), `position ${item.position}`).toBeLessThan(bound);
        }
        // Perplexity chunk 0 (all of it for stories260K, whose 512-token vocab makes it cheap).
        if (entry.id === "gemma3-270m") return; // 255 distributions of 262k: ~1 min, left to the script
        const text = readFixtureText(perplexity.text);
        const tokens = perplexityTokenize(model, text);
        const plan = perplexityPlan(tokens.ids.length, 512, 20);
        const chunks = entry.id === "stories260K" ? plan.nChunk : 1;
        for (const v of perplexity.variants) {
          const fresh = await referencePerplexityChunks(model, tokens, plan, Array.from({ length: chunks }, (_, i) => i), {
            threads: THREADS,
            flashAttention: v.flashAttention,
          });
          for (const chunk of fresh) {
            const recorded = v.perChunk[chunk.index]?.nll ?? Number.NaN;
            if (exact) expect(chunk.nll).toBe(recorded);
            else expect(Math.abs(chunk.nll / recorded - 1), `chunk ${chunk.index}, flashAttention ${String(v.flashAttention)}`).toBeLessThan(tolerance.chunkNll);
          }
          if (entry.id === "smollm2-135m") break; // one variant is enough at ~10 s a chunk
        }
      });
    });
  }
});
