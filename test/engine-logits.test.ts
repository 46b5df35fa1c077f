/**
 * Logits against llama.cpp (node-llama-cpp 3.21.1) on three 128-token texts
 * per model: greedy next-token agreement and |Δ ln p| at the chosen tokens.
 *
 * Every model is compared with the harness's fixtures (llama.cpp's numbers
 * recorded by scripts/make-reference-fixtures.mjs with one ggml CPU variant;
 * a 262k vocabulary costs ~0.2 s per position through node-llama-cpp),
 * checked against the model file's sha256 and our tokenization against the
 * recorded ids: llama.cpp's side is then the same on every machine. llama.cpp
 * computes in the last bits differently on other CPUs (it loads one library
 * per x86-64 generation; test/fixtures/reference/README.md), so the live
 * comparison on stories260K allows for that measured spread (CROSS_VARIANT),
 * and the tight check is against the independent float64 forward.
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
 * The same figures with our AVX2 and AVX-512 kernels (SHORTGPT_SIMD=avx2).
 * stories260K (f32 weights) must agree on ≥ 99%.
 */
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { openModel, type Model } from "../src/model.js";
import { SHARED_DATA, STORIES_PATH, sharedData } from "./helpers/data.js";
import { loadReferenceModel, referenceCpuVariant, referenceNextTokenLogprobs } from "./helpers/llama-reference.js";
import { argmax, logSoftmaxAt } from "./helpers/logit-rows.js";
import {
  CROSS_VARIANT,
  fixtureVariant,
  idsSha256,
  loadReferenceFixture,
  readFixtureText,
  referenceModel,
  referenceModelUnavailable,
  type NextTokenText,
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

/** Our ids for a fixture text (BOS first where the vocab adds it), checked against the fixture's sha256. */
function textIds(model: Model, text: NextTokenText, addBos: boolean): number[] {
  const bos = addBos ? [model.tokenizer.special.bos!] : [];
  const ids = [...bos, ...model.tokenizer.encode(readFixtureText(text.text), { addSpecial: false })].slice(0, text.tokens);
  expect(idsSha256(ids)).toBe(text.idsSha256);
  return ids;
}

describe.skipIf(!SHARED_DATA)("logits: stories260K against the float64 reference and llama.cpp", () => {
  it("mean next-token NLL equals the independent float64 forward's: 1e-6 with an f32 cache, 3e-4 with llama.cpp's f16 cache", async () => {
    // The tight check, independent of llama.cpp and of the CPU. stories260K.block_influence.json
    // holds a numpy float64 forward's mean NLL, rounded to 1e-6 (±5e-7). With an f32 cache only
    // float32 arithmetic separates us from it: measured |Δ| ≤ 3.2e-7 on both texts with the
    // scalar, AVX2 and AVX-512 kernels (SHORTGPT_SIMD). llama.cpp's default f16 cache rounds K and
    // V (relative 2^-11), which moves single positions by ~1e-3 in both directions and the means
    // by 8.5e-5 to 1.0e-4 (same three levels); 3e-4 bounds that and still catches a cache that
    // rounds the wrong thing (a whole-vector bf16 rounding is 8× coarser).
    const reference = JSON.parse(readFileSync(sharedData("models/stories260K.block_influence.json"), "utf8")) as {
      inputs: { name: string; ids: number[]; mean_next_token_nll: number }[];
    };
    for (const [kvCache, bound] of [["f32", 1e-6], ["f16", 3e-4]] as const) {
      const model = await openModel(STORIES_PATH, { threads: THREADS, kvCache });
      try {
        for (const input of reference.inputs) {
          const logits = await model.logits(input.ids);
          const V = model.vocabSize;
          let nll = 0;
          for (let t = 0; t + 1 < input.ids.length; t++) nll -= logSoftmaxAt(logits.subarray(t * V, (t + 1) * V), input.ids[t + 1]!);
          const delta = nll / (input.ids.length - 1) - input.mean_next_token_nll;
          console.log(`[engine-logits] stories260K '${input.name}', ${kvCache} cache, ${model.info.simd}: mean NLL − float64 reference = ${delta.toExponential(2)}`);
          expect(Math.abs(delta)).toBeLessThan(bound);
        }
      } finally {
        model.close();
      }
    }
  });

  it("agrees with the fixture's llama.cpp on ≥ 99% of greedy tokens and ln p within 1e-2, and with the llama.cpp loaded here within its spread across CPUs", async () => {
    // The fixture was recorded with one ggml CPU variant (generator.cpuVariant): against it the
    // comparison does not depend on which llama.cpp this machine loads. Measured: 384/384 greedy
    // tokens, max |Δ ln p| 2.2e-3 at llama.cpp's greedy token (AVX2 and AVX-512 kernels).
    // llama.cpp run here may be another variant, whose numbers move by up to CROSS_VARIANT
    // .stories260K.logprob from the fixture's (measured 1.9e-2 with the AVX-512 "icelake" variant
    // against "haswell"; its flash-attention kernel rounds differently): ours against it is
    // bounded by the sum of the two distances.
    const fixture = await loadReferenceFixture("stories260K", "next-token");
    const model = await openModel(STORIES_PATH, { threads: THREADS });
    const ref = await loadReferenceModel(STORIES_PATH);
    try {
      const vsFixture: Comparison[] = [];
      const vsLive: Comparison[] = [];
      for (const text of fixture.texts) {
        const ids = textIds(model, text, fixture.settings.addBos);
        const logits = await model.logits(ids);
        vsFixture.push(compare(model, logits, ids, fixtureVariant(text, "auto")));
        const r = await referenceNextTokenLogprobs(ref, ids, { threads: THREADS, positions: ids.map((_, t) => t) });
        vsLive.push(
          compare(model, logits, ids, {
            argmax: r.items.map((i) => i.argmax),
            argmaxLogprob: r.items.map((i) => i.argmaxLogprob),
            targetLogprob: r.items.map((i) => i.logprob),
          }),
        );
      }
      const a = merge(vsFixture);
      const b = merge(vsLive);
      report(`stories260K vs the fixture (${fixture.generator.cpuVariant})`, a);
      report(`stories260K vs llama.cpp here (${await referenceCpuVariant()})`, b);
      expect(a.positions).toBe(3 * 128);
      expect(a.agree / a.positions).toBeGreaterThanOrEqual(0.99);
      expect(a.maxDeltaChosen).toBeLessThan(1e-2);
      expect(b.agree / b.positions).toBeGreaterThanOrEqual(0.99);
      expect(b.maxDeltaChosen).toBeLessThan(1e-2 + CROSS_VARIANT.stories260K.logprob);
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
          const ids = textIds(model, text, fixture.settings.addBos);
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
