/**
 * A skip mask simulates removal: perplexity with blocks skipped equals the
 * perplexity of the file pruneLayers writes without them (relative difference
 * ≤ 1e-4), on SmolLM2 and on Gemma 3 with a pattern-valid set (6-11: one whole
 * period of 5 local + 1 global blocks). And the mask keeps each block's own
 * index-dependent behaviour: skipping a pattern-breaking set is *not* the
 * same as the (forced) file, whose later blocks change kind.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readEvalText } from "../src/cli/eval.js";
import { pruneLayers } from "../src/gguf/prune.js";
import { openModel } from "../src/model.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, sharedData } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-skip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHUNKS = 3;

async function pplOf(path: string, text: string, skip: number[] = []): Promise<number> {
  const model = await openModel(path, { threads: 2 });
  try {
    return (await model.perplexity(text, { ctx: 512, chunks: CHUNKS, skip })).perplexity;
  } finally {
    model.close();
  }
}

describe.skipIf(!SHARED_DATA)("skip mask vs physical removal", () => {
  const text = SHARED_DATA ? readEvalText(sharedData("text/wikitext-2-raw/wiki.test.raw")) : "";

  it("SmolLM2: skipping 3, 10-12, 25 equals removing them", async () => {
    const layers = [3, 10, 11, 12, 25];
    const out = join(dir, "smollm2-pruned.gguf");
    await pruneLayers(SMOLLM2_PATH, out, layers);
    const skipped = await pplOf(SMOLLM2_PATH, text, layers);
    const pruned = await pplOf(out, text);
    console.log(`[engine-skip] SmolLM2 skip ${layers.join(",")}: ${skipped} vs pruned file ${pruned}`);
    expect(Math.abs(skipped / pruned - 1)).toBeLessThanOrEqual(1e-4);
  });

  it("Gemma 3: skipping 6-11 equals removing them; skipping 3 alone is not removing it (pattern)", async () => {
    const layers = [6, 7, 8, 9, 10, 11];
    const out = join(dir, "gemma3-pruned.gguf");
    await pruneLayers(GEMMA3_PATH, out, layers);
    const skipped = await pplOf(GEMMA3_PATH, text, layers);
    const pruned = await pplOf(out, text);
    console.log(`[engine-skip] Gemma 3 skip 6-11: ${skipped} vs pruned file ${pruned}`);
    expect(Math.abs(skipped / pruned - 1)).toBeLessThanOrEqual(1e-4);

    // Removing block 3 alone shifts every later block's local/global kind and RoPE base;
    // skipping it keeps them. The two must differ.
    const forced = join(dir, "gemma3-forced.gguf");
    await pruneLayers(GEMMA3_PATH, forced, [3], { force: true });
    const skip3 = await pplOf(GEMMA3_PATH, text, [3]);
    const removed3 = await pplOf(forced, text);
    console.log(`[engine-skip] Gemma 3 skip 3: ${skip3} vs forced file without block 3: ${removed3}`);
    expect(Math.abs(skip3 / removed3 - 1)).toBeGreaterThan(1e-3);
  });
});
