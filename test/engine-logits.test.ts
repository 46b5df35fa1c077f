/**
 * Logits against llama.cpp (node-llama-cpp 3.21.1) on three 128-token texts
 * per model: greedy next-token agreement and |Δ ln p| at the chosen tokens.
 *
 * stories260K is evaluated by llama.cpp in this test. SmolLM2-135M and Gemma 3
 * 270M use the harness's fixtures (llama.cpp's numbers recorded by
 * scripts/make-reference-fixtures.mjs; a 262k vocabulary costs ~0.2 s per
 * position through node-llama-cpp), checked against the model file's sha256
 * and our tokenization against the recorded ids.
 *
 * Why the quantized models are held to llama.cpp's own consistency rather
 * than to 99%: these two small models turn last-bit differences into
 * visible ones. llama.cpp's two CPU attention kernels (flash attention on, its
 * default, and off) agree with each other on only 93-97% of greedy tokens on
 * these texts (both variants are in the fixtures), while one block of SmolLM2
 * run by us matches llama.cpp to 1e-4 nats at 121 of 127 positions. So the
 * test asks that we agree with llama.cpp's default about as well as llama.cpp's
 * two kernels agree with each other (within three points, and at least 90%);
 * the figures are printed, with the largest |Δ ln p| of each (llama.cpp vs itself:
 * 0.59 nats on SmolLM2, 0.60 on Gemma 3; ours vs llama.cpp: 0.34, 0.57).
 * stories260K (f32 weights) must agree on ≥ 99%.
 */
import { describe, expect, it } from "vitest";

import { openModel, type Model } from "../src/model.js";
import { SHARED_DATA, STORIES_PATH } from "./helpers/data.js";
import { loadReferenceModel, referenceNextTokenLogprobs } from "./helpers/llama-reference.js";
import { argmax, logSoftmaxAt } from "./helpers/logit-rows.js";
import {
  fixtureVariant,
  idsSha256,
  loadReferenceFixture,
  readFixtureText,
  referenceModel,
  referenceModelUnavailable,
  type ReferenceModelId,
} from "./helpers/reference-fixtures.js";

const THREADS = 2;

interface Comparison {
  positions: number;
  agree: number;
  maxDeltaChosen: number;
  maxDeltaTarget: number;
}

function compare(model: Model, logits: Float32Array, ids: readonly number[], ref: { argmax: number[]; argmaxLogprob: number[]; targetLogprob: number[] }): Comparison {
  const V = model.vocabSize;
  const out: Comparison = { positions: 0, agree: 0, maxDeltaChosen: 0, maxDeltaTarget: 0 };
  for (let t = 0; t < ids.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    out.positions++;
    if (argmax(row) === ref.argmax[t]) out.agree++;
    out.maxDeltaChosen = Math.max(out.maxDeltaChosen, Math.abs(logSoftmaxAt(row, ref.argmax[t]!) - ref.argmaxLogprob[t]!));
    if (t + 1 < ids.length) out.maxDeltaTarget = Math.max(out.maxDeltaTarget, Math.abs(logSoftmaxAt(row, ids[t + 1]!) - ref.targetLogprob[t]!));
  }
  return out;
}

function merge(list: Comparison[]): Comparison {
  return list.reduce(
    (a, b) => ({
      positions: a.positions + b.positions,
      agree: a.agree + b.agree,
      maxDeltaChosen: Math.max(a.maxDeltaChosen, b.maxDeltaChosen),
      maxDeltaTarget: Math.max(a.maxDeltaTarget, b.maxDeltaTarget),
    }),
    { positions: 0, agree: 0, maxDeltaChosen: 0, maxDeltaTarget: 0 },
  );
}

function report(name: string, c: Comparison, self?: { agree: number; positions: number; maxDeltaTarget: number }): void {
  const selfText = self
    ? `; llama.cpp flash-attention on vs off: ${self.agree}/${self.positions} (${((100 * self.agree) / self.positions).toFixed(1)}%), ` +
      `max |Δ ln p| at the text's next token ${self.maxDeltaTarget.toExponential(2)}`
    : "";
  console.log(
    `[engine-logits] ${name}: greedy agreement ${c.agree}/${c.positions} (${((100 * c.agree) / c.positions).toFixed(1)}%), ` +
      `max |Δ ln p| at llama.cpp's greedy token ${c.maxDeltaChosen.toExponential(2)}, at the text's next token ${c.maxDeltaTarget.toExponential(2)}${selfText}`,
  );
}

describe.skipIf(!SHARED_DATA)("logits vs llama.cpp: stories260K, computed in the test", () => {
  it("agrees on ≥ 99% of greedy tokens over three 128-token texts", async () => {
    const fixture = await loadReferenceFixture("stories260K", "next-token");
    const model = await openModel(STORIES_PATH, { threads: THREADS });
    const ref = await loadReferenceModel(STORIES_PATH);
    try {
      const results: Comparison[] = [];
      for (const text of fixture.texts) {
        const bos = model.tokenizer.addBos ? [model.tokenizer.special.bos!] : [];
        const ids = [...bos, ...model.tokenizer.encode(readFixtureText(text.text), { addSpecial: false })].slice(0, text.tokens);
        expect(idsSha256(ids)).toBe(text.idsSha256);
        const r = await referenceNextTokenLogprobs(ref, ids, { threads: THREADS, positions: ids.map((_, t) => t) });
        const logits = await model.logits(ids);
        results.push(
          compare(model, logits, ids, {
            argmax: r.items.map((i) => i.argmax),
            argmaxLogprob: r.items.map((i) => i.argmaxLogprob),
            targetLogprob: r.items.map((i) => i.logprob),
          }),
        );
      }
      const all = merge(results);
      report("stories260K", all);
      expect(all.positions).toBe(3 * 128);
      expect(all.agree / all.positions).toBeGreaterThanOrEqual(0.99);
      expect(all.maxDeltaChosen).toBeLessThan(1e-2);
    } finally {
      model.close();
      await ref.dispose();
    }
  });
});

for (const id of ["smollm2-135m", "gemma3-270m"] as const satisfies readonly ReferenceModelId[]) {
  const unavailable = referenceModelUnavailable(id);
  describe.skipIf(unavailable !== undefined || !SHARED_DATA)(`logits vs llama.cpp: ${id}, from the harness fixtures`, () => {
    it("agrees with llama.cpp's default as well as llama.cpp's two attention kernels agree with each other", async () => {
      const fixture = await loadReferenceFixture(id, "next-token");
      const model = await openModel(referenceModel(id).path, { threads: THREADS });
      try {
        const results: Comparison[] = [];
        const self = { agree: 0, positions: 0, maxDeltaTarget: 0 };
        for (const text of fixture.texts) {
          const bos = fixture.settings.addBos ? [model.tokenizer.special.bos!] : [];
          const ids = [...bos, ...model.tokenizer.encode(readFixtureText(text.text), { addSpecial: false })].slice(0, text.tokens);
          expect(idsSha256(ids)).toBe(text.idsSha256);
          const auto = fixtureVariant(text, "auto");
          const off = fixtureVariant(text, false);
          auto.argmax.forEach((a, t) => {
            self.positions++;
            if (a === off.argmax[t]) self.agree++;
            if (t + 1 < ids.length) self.maxDeltaTarget = Math.max(self.maxDeltaTarget, Math.abs(auto.targetLogprob[t]! - off.targetLogprob[t]!));
          });
          results.push(compare(model, await model.logits(ids), ids, auto));
        }
        const all = merge(results);
        report(id, all, self);
        expect(all.positions).toBe(3 * 128);
        const floor = Math.max(0.9, self.agree / self.positions - 0.03);
        expect(all.agree / all.positions).toBeGreaterThanOrEqual(floor);
        // Far below any real disagreement (a wrong RoPE or norm moves ln p by whole nats).
        expect(all.maxDeltaChosen).toBeLessThan(1);
        // And no farther from llama.cpp than its two attention kernels are from each other
        // (0.59 / 0.60 nats on these texts; ours 0.34 / 0.57), with a margin for the texts' worst position.
        expect(all.maxDeltaTarget).toBeLessThanOrEqual(1.25 * self.maxDeltaTarget);
      } finally {
        model.close();
      }
    });
  });
}
