/**
 * The training-context cap: sequences longer than `{arch}.context_length`
 * are refused with ERR_CONTEXT_LENGTH before any work (they used to run, and
 * minutes-long runs on positions the model never saw gave meaningless
 * numbers), unless the caller opts in with allowLongContext.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { openModel } from "../src/model.js";
import { writeRandomModel } from "../src/models/random-model.js";
import { scoreModel } from "../src/score/score.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-context-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONTEXT = 256;
const base = { architecture: "llama", embd: 32, vocab: 64, blocks: 2, heads: 4, headsKv: 2, ff: 48, contextLength: CONTEXT, weights: "F32", seed: 5 } as const;
const path = join(dir, "tiny.gguf");
writeRandomModel(base, path);
const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 13) % base.vocab);

describe("sequences beyond the training context", () => {
  it("are refused by logits, hiddenStats, perplexity and score, naming the limit", async () => {
    const model = await openModel(path, { threads: 1 });
    try {
      expect(model.contextLength).toBe(CONTEXT);
      const refused = { code: "ERR_CONTEXT_LENGTH", message: expect.stringContaining(`${CONTEXT}-token context`) };
      await expect(model.logits(ids(CONTEXT + 1), { positions: [0] })).rejects.toMatchObject(refused);
      await expect(model.hiddenStats([ids(10), ids(CONTEXT + 1)])).rejects.toMatchObject(refused);
      await expect(model.perplexity({ tokens: ids(4 * 512), bos: null }, { ctx: 512 })).rejects.toMatchObject(refused);
      // Refused before tokenizing: this model has no vocabulary at all.
      await expect(scoreModel(model, "text", { ctx: CONTEXT + 1 })).rejects.toMatchObject(refused);
    } finally {
      model.close();
    }
  });

  it("run up to the limit, and beyond it with allowLongContext", async () => {
    const model = await openModel(path, { threads: 1 });
    try {
      expect((await model.logits(ids(CONTEXT), { positions: [CONTEXT - 1] })).length).toBe(base.vocab);
      const long = await model.logits(ids(CONTEXT + 1), { positions: [CONTEXT], allowLongContext: true });
      expect(long.length).toBe(base.vocab);
      const stats = await model.hiddenStats([ids(CONTEXT + 8)], { allowLongContext: true });
      expect(stats.rows).toBe(CONTEXT + 8);
      const ppl = await model.perplexity({ tokens: ids(2 * 512), bos: null }, { ctx: 512, allowLongContext: true });
      expect(Number.isFinite(ppl.perplexity)).toBe(true);
    } finally {
      model.close();
    }
  });
});
