/**
 * Perplexity against llama-perplexity's numbers: the first 20 chunks (ctx
 * 512) of WikiText-2 test, within 0.5%. stories260K is scored by llama.cpp in
 * the test; SmolLM2-135M and Gemma 3 270M use the harness's fixtures
 * (node-llama-cpp reads a 262k-entry distribution per position, far too slow
 * to repeat in every run), after checking that our tokenization of the text
 * is the one the fixture recorded.
 *
 * 0.5% holds on any CPU: llama.cpp's own perplexity moves far less between
 * the ggml CPU variants it loads (a chunk's ΣNLL by at most 1.8e-4 relative
 * on stories260K, 3.5e-3 on SmolLM2; test/helpers/reference-fixtures.ts,
 * CROSS_VARIANT) and between its two attention kernels (0.07% and 0.16% on
 * the 20-chunk PPL of SmolLM2 and Gemma 3), while a wrong chunking, BOS or
 * scored range moves it by several percent or more.
 */
import { describe, expect, it } from "vitest";

import { readEvalText } from "../src/cli/eval.js";
import { perplexityChunks } from "../src/data/perplexity-chunks.js";
import { openModel } from "../src/model.js";
import { SHARED_DATA, STORIES_PATH, sharedData } from "./helpers/data.js";
import { referencePerplexity } from "./helpers/llama-reference.js";
import {
  fixtureVariant,
  idsSha256,
  loadReferenceFixture,
  readFixtureText,
  referenceModel,
  referenceModelUnavailable,
} from "./helpers/reference-fixtures.js";

const THREADS = 2;
const WIKI = "text/wikitext-2-raw/wiki.test.raw";

describe("perplexity chunking (llama-perplexity's rules)", () => {
  it("cuts ⌊tokens/ctx⌋ chunks, overwrites each first token with BOS and scores ctx/2 … ctx−2", () => {
    const tokens = Array.from({ length: 1100 }, (_, i) => i + 10);
    const c = perplexityChunks(tokens, { ctx: 512, bos: 1 });
    expect(c.chunks).toBe(2);
    expect(c.first).toBe(256);
    expect(c.scoredPerChunk).toBe(255);
    expect(c.ids[0]).toBe(1);
    expect(c.ids[512]).toBe(1);
    expect(c.ids[513]).toBe(tokens[513]);
    expect(perplexityChunks(tokens, { ctx: 512, bos: null }).ids[512]).toBe(tokens[512]);
    expect(perplexityChunks(tokens, { ctx: 512, bos: 1, maxChunks: 1 }).chunks).toBe(1);
    expect(() => perplexityChunks(tokens.slice(0, 1000), { ctx: 512, bos: 1 })).toThrow(/at least 2 × ctx/);
  });
});

describe.skipIf(!SHARED_DATA)("perplexity vs llama.cpp: stories260K, computed in the test", () => {
  it("is within 0.5% of llama-perplexity on 20 chunks of 512", async () => {
    const text = readEvalText(sharedData(WIKI));
    const ref = await referencePerplexity(STORIES_PATH, text, { ctx: 512, chunks: 20, threads: THREADS });
    const model = await openModel(STORIES_PATH, { threads: THREADS });
    try {
      const ours = await model.perplexity(text, { ctx: 512, chunks: 20 });
      console.log(`[engine-perplexity] stories260K: ours ${ours.perplexity.toFixed(4)}, llama.cpp ${ref.perplexity.toFixed(4)} (${(100 * (ours.perplexity / ref.perplexity - 1)).toFixed(3)}%)`);
      expect(ours.chunks).toBe(20);
      expect(ours.tokensScored).toBe(ref.count);
      expect(Math.abs(ours.perplexity / ref.perplexity - 1)).toBeLessThan(0.005);
    } finally {
      model.close();
    }
  });
});

for (const id of ["smollm2-135m", "gemma3-270m"] as const) {
  const unavailable = referenceModelUnavailable(id);
  describe.skipIf(unavailable !== undefined || !SHARED_DATA)(`perplexity vs llama.cpp: ${id}, from the harness fixture`, () => {
    it("is within 0.5% of llama-perplexity on the first 20 chunks of 512", async () => {
      const fixture = await loadReferenceFixture(id, "perplexity");
      const ref = fixtureVariant(fixture, "auto");
      let text = readFixtureText(fixture.text);
      if (fixture.settings.droppedTrailingNewline) text = text.slice(0, -1);
      const model = await openModel(referenceModel(id).path, { threads: THREADS });
      try {
        const ids = model.tokenizer.encode(text, { addSpecial: true });
        expect(idsSha256(ids.slice(0, fixture.settings.ctx * fixture.settings.chunks))).toBe(fixture.tokenization.usedIdsSha256);
        const ours = await model.perplexity({ tokens: ids }, { ctx: fixture.settings.ctx, chunks: fixture.settings.chunks });
        const off = fixtureVariant(fixture, false);
        console.log(
          `[engine-perplexity] ${id}: ours ${ours.perplexity.toFixed(4)}, llama.cpp ${ref.perplexity.toFixed(4)} ` +
            `(${(100 * (ours.perplexity / ref.perplexity - 1)).toFixed(3)}%; llama.cpp without flash attention ${off.perplexity.toFixed(4)}), ${ours.seconds.toFixed(1)} s`,
        );
        expect(ours.tokensScored).toBe(ref.count);
        expect(Math.abs(ours.perplexity / ref.perplexity - 1)).toBeLessThan(0.005);
        // The running value too, chunk by chunk (one 255-token chunk carries more noise: 2%).
        ours.runningPerplexity.forEach((p, c) => {
          const refNll = ref.perChunk.slice(0, c + 1).reduce((s, x) => s + x.nll, 0);
          const refCount = ref.perChunk.slice(0, c + 1).reduce((s, x) => s + x.count, 0);
          expect(Math.abs(p / Math.exp(refNll / refCount) - 1)).toBeLessThan(0.02);
        });
      } finally {
        model.close();
      }
    });
  });
}
