/**
 * Models with NaN or infinite weights (a broken conversion or quantization):
 * every engine call fails with ERR_NON_FINITE naming the block whose output
 * went non-finite, instead of Block Influence 0 for every block (a NaN row
 * used to count as an unchanged one) or a perplexity of NaN.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { openModel } from "../src/model.js";
import { randomModelTensors, writeModel, type ModelTensor } from "../src/models/random-model.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-nonfinite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { architecture: "llama", embd: 32, vocab: 64, blocks: 4, heads: 4, headsKv: 2, ff: 48, weights: "F32", seed: 3 } as const;

/** The tiny model with `poison` applied to the named tensors' values. */
function model(name: string, targets: (t: ModelTensor) => boolean, value: number): string {
  const tensors = randomModelTensors(base).map((t) => (targets(t) ? { ...t, data: new Float32Array((t.data as Float32Array).length).fill(value) } : t));
  const path = join(dir, `${name}.gguf`);
  writeModel(path, base, tensors);
  return path;
}

const ids = Array.from({ length: 40 }, (_, i) => (i * 7) % base.vocab);

async function expectNonFinite(path: string, where: RegExp): Promise<void> {
  const m = await openModel(path, { threads: 1 });
  try {
    const calls: [string, () => Promise<unknown>][] = [
      ["hiddenStats", () => m.hiddenStats([ids, ids.slice(0, 20)], { spans: [1, 2] })],
      ["logits", () => m.logits(ids, { positions: [39] })],
      ["perplexity", () => m.perplexity({ tokens: Array.from({ length: 64 }, (_, i) => ids[i % ids.length]!), bos: null }, { ctx: 32 })],
      ["generate", () => m.generate(ids.slice(0, 8), { maxTokens: 4, ignoreEos: true })],
    ];
    for (const [name, call] of calls) {
      const err = (await call().then(
        () => undefined,
        (e: unknown) => e,
      )) as (Error & { code: string }) | undefined;
      expect(err, `${name} should fail`).toBeDefined();
      expect(err!.code, name).toBe("ERR_NON_FINITE");
      expect(err!.message, name).toMatch(where);
      expect(err!.message, name).toContain(path);
    }
    // The model stays usable for the next call (which fails the same way, not worse).
    await expect(m.logits(ids.slice(0, 4))).rejects.toMatchObject({ code: "ERR_NON_FINITE" });
  } finally {
    m.close();
  }
}

describe("non-finite weights", () => {
  it("all-NaN weights in every block: the error names block 0", async () => {
    await expectNonFinite(model("all-nan", (t) => t.name.startsWith("blk.") && !t.name.endsWith("norm.weight"), Number.NaN), /after block 0 /);
  });

  it("NaN in block 2's FFN only: the error names block 2", async () => {
    await expectNonFinite(model("nan-block2", (t) => t.name === "blk.2.ffn_down.weight", Number.NaN), /after block 2 /);
  });

  it("+Inf in block 1's attention output", async () => {
    await expectNonFinite(model("inf-block1", (t) => t.name === "blk.1.attn_output.weight", Number.POSITIVE_INFINITY), /after block 1 /);
  });

  it("NaN embeddings are named as such", async () => {
    await expectNonFinite(model("nan-embd", (t) => t.name === "token_embd.weight", Number.NaN), /token embeddings/);
  });

  it("NaN only in the final norm: the logits are refused", async () => {
    const path = model("nan-output-norm", (t) => t.name === "output_norm.weight", Number.NaN);
    const m = await openModel(path, { threads: 1 });
    try {
      // Hidden states are fine (the hooks see only blocks), the logits are not.
      await expect(m.hiddenStats([ids])).resolves.toBeDefined();
      await expect(m.logits(ids)).rejects.toMatchObject({ code: "ERR_NON_FINITE", message: expect.stringMatching(/logits/) });
      await expect(m.perplexity({ tokens: Array.from({ length: 64 }, (_, i) => ids[i % ids.length]!), bos: null }, { ctx: 32 })).rejects.toMatchObject({ code: "ERR_NON_FINITE" });
    } finally {
      m.close();
    }
  });

  it("a block skipped by the skip mask is not checked (its weights are never run)", async () => {
    const path = model("nan-skipped", (t) => t.name.startsWith("blk.2.") && !t.name.endsWith("norm.weight"), Number.NaN);
    const m = await openModel(path, { threads: 1 });
    try {
      const stats = await m.hiddenStats([ids], { skip: [2] });
      expect(Array.from(stats.cosSum).every(Number.isFinite)).toBe(true);
      await expect(m.hiddenStats([ids])).rejects.toMatchObject({ code: "ERR_NON_FINITE", message: expect.stringMatching(/after block 2 /) });
    } finally {
      m.close();
    }
  });
});
