/**
 * The hidden-state hooks: Block Influence on stories260K against the
 * independent float64 reference in ../shared/data, closed-form cases on a
 * hand-built model (a zero-weight block changes nothing; a block that only
 * adds a bias adds exactly that; zero rows count as cos 1), and independence
 * of the sums from batch size and thread count.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { blockInfluenceOf, combineHiddenStats, relativeMagnitudeOf, type HiddenStats } from "../src/evaluate/hidden-stats.js";
import { openModel } from "../src/model.js";
import { gaussianFloats } from "../src/models/random-blocks.js";
import { randomModelTensors, writeModel } from "../src/models/random-model.js";
import { SHARED_DATA, SMOLLM2_PATH, STORIES_PATH, sharedData } from "./helpers/data.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-hooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface BiReference {
  inputs: { name: string; ids: number[]; block_influence: { layer: number; bi_all_positions: number }[] }[];
}

function allFinite(stats: HiddenStats): boolean {
  const arrays = [stats.cosSum, stats.relMagnitudeSum, ...stats.spans.flatMap((s) => [s.cosSum, s.angleSum, s.lastCosSum, s.lastAngleSum])];
  return arrays.every((a) => Array.from(a).every(Number.isFinite));
}

describe.skipIf(!SHARED_DATA)("Block Influence on stories260K vs the independent float64 reference", () => {
  const reference = SHARED_DATA ? (JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as BiReference) : undefined;

  it("matches to 1e-6 with an f32 cache (the reference's note: a float32 run agrees to 2e-8)", async () => {
    const model = await openModel(STORIES_PATH, { threads: 2, kvCache: "f32" });
    try {
      for (const input of reference!.inputs) {
        const stats = await model.hiddenStats([input.ids]);
        const bi = blockInfluenceOf(stats);
        expect(stats.rows).toBe(input.ids.length);
        bi.forEach((b, i) => expect(Math.abs(b - input.block_influence[i]!.bi_all_positions)).toBeLessThan(1e-6));
      }
    } finally {
      model.close();
    }
  });

  it("stays within 1e-4 with llama.cpp's f16 cache (the rounding of K and V is the only difference)", async () => {
    const model = await openModel(STORIES_PATH, { threads: 2 });
    try {
      for (const input of reference!.inputs) {
        const bi = blockInfluenceOf(await model.hiddenStats([input.ids]));
        const worst = Math.max(...bi.map((b, i) => Math.abs(b - input.block_influence[i]!.bi_all_positions)));
        console.log(`[engine-hooks] stories260K '${input.name}': max |ΔBI| with the f16 cache ${worst.toExponential(2)}`);
        expect(worst).toBeLessThan(1e-4);
      }
    } finally {
      model.close();
    }
  });
});

describe("hook sums in closed form on a hand-built model", () => {
  // 4 blocks: 0 only adds a bias b (attention output and FFN down weights are
  // zero), 1 has all-zero weights, 2 and 3 are random. Token 0's embedding is
  // all zeros.
  const E = 32;
  const base = { architecture: "llama", embd: E, vocab: 16, blocks: 4, heads: 4, headsKv: 2, ff: 48, weights: "F32", seed: 7 } as const;
  const tensors = randomModelTensors(base);
  const set = (name: string, data: Float32Array) => {
    const t = tensors.find((x) => x.name === name);
    if (!t) throw new Error(name);
    t.data = data;
  };
  const zeros = (n: number) => new Float32Array(n);
  const embedding = tensors.find((t) => t.name === "token_embd.weight")!.data as Float32Array;
  embedding.fill(0, 0, E);
  set("blk.0.attn_output.weight", zeros(E * E));
  set("blk.0.ffn_down.weight", zeros(base.ff * E));
  const bias = gaussianFloats(E, 99, 0.5);
  tensors.push({ name: "blk.0.ffn_down.bias", dims: [E], data: bias });
  for (const t of tensors) if (t.name.startsWith("blk.1.") && !t.name.endsWith("norm.weight")) t.data = zeros((t.data as Float32Array).length);
  const path = join(dir, "closed-form.gguf");
  writeModel(path, base, tensors);

  const windows = [
    [1, 5, 0, 9, 3, 3, 12, 0],
    [0, 0, 2],
    [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4],
  ];

  /** cos(e, e + b) and ||b|| / ||e + b|| in double from the float sums the engine stores. */
  function blockZeroClosedForm(): { cos: number; rel: number } {
    let cos = 0;
    let rel = 0;
    for (const w of windows) {
      for (const token of w) {
        const e = embedding.subarray(token * E, (token + 1) * E);
        let dot = 0, ne = 0, nx = 0, nd = 0;
        for (let i = 0; i < E; i++) {
          const x = Math.fround(e[i]! + bias[i]!);
          dot += e[i]! * x;
          ne += e[i]! * e[i]!;
          nx += x * x;
          nd += (x - e[i]!) * (x - e[i]!);
        }
        cos += ne > 0 && nx > 0 ? dot / Math.sqrt(ne * nx) : 1;
        rel += Math.sqrt(nd) / Math.sqrt(nx);
      }
    }
    return { cos, rel };
  }

  it("a bias-only block adds exactly its bias; a zero-weight block has BI 0; zero rows count as cos 1", async () => {
    const model = await openModel(path, { threads: 2, kvCache: "f32" });
    try {
      const stats = await model.hiddenStats(windows, { spans: [1, 2, 3] });
      const rows = windows.reduce((n, w) => n + w.length, 0);
      expect(stats.rows).toBe(rows);
      expect(stats.windows).toBe(3);
      expect(allFinite(stats)).toBe(true);
      const expected = blockZeroClosedForm();
      expect(Math.abs(stats.cosSum[0]! - expected.cos)).toBeLessThan(1e-9 * rows);
      expect(Math.abs(stats.relMagnitudeSum[0]! - expected.rel)).toBeLessThan(1e-9 * rows);
      // Block 1 leaves x unchanged: cos exactly 1 everywhere, no change at all.
      expect(stats.cosSum[1]).toBe(rows);
      expect(stats.relMagnitudeSum[1]).toBe(0);
      expect(blockInfluenceOf(stats)[1]).toBe(0);
      // So x_2 = x_1: the span-2 comparison from block 0 equals the span-1 one.
      const [s1, s2, s3] = stats.spans;
      expect(s1!.span).toBe(1);
      expect(s2!.cosSum[0]).toBe(s1!.cosSum[0]);
      expect(s2!.lastCosSum[0]).toBe(s1!.lastCosSum[0]);
      expect(s2!.angleSum[0]).toBe(s1!.angleSum[0]);
      // Span 1 is the per-block comparison; spans have blocks − n + 1 start blocks.
      expect(Array.from(s1!.cosSum)).toEqual(Array.from(stats.cosSum));
      expect(s3!.cosSum.length).toBe(2);
      // An unchanged state has angle 0.
      expect(s1!.angleSum[1]).toBe(0);
      // The random blocks do change it.
      expect(blockInfluenceOf(stats)[2]).toBeGreaterThan(1e-3);
      expect(relativeMagnitudeOf(stats)[3]).toBeGreaterThan(1e-3);
    } finally {
      model.close();
    }
  });

  it("a skipped block scores as unchanged and later blocks see its input", async () => {
    const model = await openModel(path, { threads: 2 });
    try {
      const skipped = await model.hiddenStats(windows, { skip: [0] });
      const rows = windows.reduce((n, w) => n + w.length, 0);
      expect(skipped.cosSum[0]).toBe(rows);
      expect(skipped.relMagnitudeSum[0]).toBe(0);
      const full = await model.hiddenStats(windows);
      expect(skipped.cosSum[2]).not.toBe(full.cosSum[2]);
    } finally {
      model.close();
    }
  });
});

describe("hook sums do not depend on batching or threads", () => {
  it("gives the same bits with 1 window per batch or all at once, on 1 or 2 threads (SmolLM2)", async () => {
    const small = await openModel(SMOLLM2_PATH, { threads: 1, memoryBudget: 16 * 1024 * 1024 });
    const large = await openModel(SMOLLM2_PATH, { threads: 2, memoryBudget: 512 * 1024 * 1024 });
    try {
      const windows = [0, 1, 2].map((w) => Array.from({ length: 256 }, (_, i) => ((w + 1) * 7919 * (i + 3)) % 49152));
      expect(small.sequencesPerBatch(256, 4)).toBe(1);
      expect(large.sequencesPerBatch(256, 4)).toBeGreaterThanOrEqual(3);
      // However large the budget, a batch holds at most 2048 tokens (more only costs memory), and at least one sequence.
      expect(large.sequencesPerBatch(256, 0)).toBe(8);
      expect(large.sequencesPerBatch(128, 0)).toBe(16);
      expect(large.sequencesPerBatch(3000, 0)).toBe(1);
      const a = await small.hiddenStats(windows, { spans: [1, 4] });
      const b = await large.hiddenStats(windows, { spans: [1, 4] });
      expect(Array.from(a.cosSum)).toEqual(Array.from(b.cosSum));
      expect(Array.from(a.relMagnitudeSum)).toEqual(Array.from(b.relMagnitudeSum));
      expect(Array.from(a.spans[1]!.lastAngleSum)).toEqual(Array.from(b.spans[1]!.lastAngleSum));
      // Sums of separate calls add up (to rounding of the final additions).
      const first = await large.hiddenStats(windows.slice(0, 1), { spans: [1, 4] });
      const rest = await large.hiddenStats(windows.slice(1), { spans: [1, 4] });
      const combined = combineHiddenStats(first, rest);
      expect(combined.rows).toBe(b.rows);
      combined.cosSum.forEach((c, i) => expect(Math.abs(c - b.cosSum[i]!)).toBeLessThan(1e-9));
      // And perplexity chunk sums are bitwise the same too.
      const ids = Array.from({ length: 1100 }, (_, i) => (i * 104729) % 49152);
      const p1 = await small.perplexity({ tokens: ids }, { ctx: 256, chunks: 4 });
      const p2 = await large.perplexity({ tokens: ids }, { ctx: 256, chunks: 4 });
      expect(p1.perplexity).toBe(p2.perplexity);
    } finally {
      small.close();
      large.close();
    }
  });
});
