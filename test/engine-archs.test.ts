/**
 * Every supported architecture against llama.cpp on a small random model with
 * F32 weights (test/helpers/arch-models.ts: qwen2, qwen3, phi3, gemma2, gemma3
 * and llama with llama3 RoPE frequency factors, each with its distinctive
 * features).
 *
 * Random weights are numerically tame, so the bar is close agreement:
 * the same greedy token everywhere and ln p within 2e-3. llama.cpp runs live
 * here, with whatever ggml CPU variant this CPU loads; measured with the
 * x64, sse42, skylakex and icelake variants (scripts/llama-cpu-variant.mjs;
 * haswell on the AMD machine the test was written on): 80/80 greedy tokens
 * for every architecture, max |Δ ln p| 1.14e-3 (gemma2 on the AVX-512
 * variants, gemma3 on x64 and sse42).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { openModel } from "../src/model.js";
import { kv } from "../src/gguf/value.js";
import { randomModelTensors, writeModel } from "../src/models/random-model.js";
import { ARCH_MODELS, archModel, buildArchModel, TOKENS, VOCAB } from "./helpers/arch-models.js";
import { SHARED_DATA, STORIES_PATH } from "./helpers/data.js";
import { loadReferenceModel, referenceNextTokenLogprobs } from "./helpers/llama-reference.js";
import { agreementWithReference } from "./helpers/logit-rows.js";

const dir = mkdtempSync(join(tmpdir(), "shortgpt-archs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!SHARED_DATA)("every supported architecture vs llama.cpp on a random model", () => {
  const tokenizerKv = SHARED_DATA ? readGguf(STORIES_PATH).kv.filter((e) => e.key.startsWith("tokenizer.")) : [];
  const ids = Array.from({ length: TOKENS }, (_, i) => (i === 0 ? 1 : 3 + ((i * 7919) % 500)));

  for (const spec of ARCH_MODELS) {
    it(`${spec.architecture}: same greedy tokens, ln p within 2e-3`, async () => {
      const path = buildArchModel(dir, spec, tokenizerKv);
      const model = await openModel(path, { threads: 2 });
      const ref = await loadReferenceModel(path);
      try {
        const r = await referenceNextTokenLogprobs(ref, ids, { threads: 2, positions: ids.map((_, t) => t) });
        const { agree, worstArgmax, worstTarget } = agreementWithReference(await model.logits(ids), VOCAB, r.items);
        const worst = Math.max(worstArgmax, worstTarget);
        console.log(`[engine-archs] ${spec.architecture}: greedy ${agree}/${r.items.length}, max |Δ ln p| ${worst.toExponential(2)}`);
        expect(agree).toBe(r.items.length);
        expect(worst).toBeLessThan(2e-3);
      } finally {
        model.close();
        await ref.dispose();
      }
    });
  }

  // phi3's LongRoPE: two sets of frequency divisors, the short ones while the context is within
  // rope.scaling.original_context_length, the long ones beyond (llama.cpp decides by its context
  // size, which it pads; an original context of 512 keeps both choices clear of the padding).
  it("phi3 LongRoPE: short factors up to the original context, long beyond, as llama.cpp", async () => {
    const spec = { ...archModel("phi3"), extraKv: [...tokenizerKv, kv.u32("phi3.rope.scaling.original_context_length", 512), kv.f32("phi3.rope.scaling.attn_factor", 1.19)] };
    const half = spec.embd / spec.heads / 2;
    const tensors = randomModelTensors(spec);
    tensors.push(
      { name: "rope_factors_short.weight", dims: [half], data: Float32Array.from({ length: half }, (_, i) => 1 + i / 4) },
      { name: "rope_factors_long.weight", dims: [half], data: Float32Array.from({ length: half }, (_, i) => 1 + 2 * i) },
    );
    const path = join(dir, "phi3-longrope.gguf");
    writeModel(path, spec, tensors);
    const model = await openModel(path, { threads: 2 });
    const ref = await loadReferenceModel(path);
    try {
      const long = Array.from({ length: 600 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 7919) % 500)));
      const logits: Float32Array[] = [];
      for (const ids of [long.slice(0, TOKENS), long]) {
        const positions = ids.map((_, t) => t).filter((t) => t % 8 === 7);
        const r = await referenceNextTokenLogprobs(ref, ids, { threads: 2, positions });
        const ours = await model.logits(ids, { positions });
        logits.push(ours.subarray(0, VOCAB));
        const rows = r.items.map((item, i) => ({ ...item, position: i }));
        const { agree, worstArgmax, worstTarget } = agreementWithReference(ours, VOCAB, rows);
        console.log(`[engine-archs] phi3 LongRoPE, ${ids.length} tokens: greedy ${agree}/${rows.length}, max |Δ ln p| ${Math.max(worstArgmax, worstTarget).toExponential(2)}`);
        expect(agree).toBe(rows.length);
        expect(Math.max(worstArgmax, worstTarget)).toBeLessThan(2e-3);
      }
      // The first rows of both runs see the same tokens: only the factors make them differ.
      expect(Math.max(...logits[0]!.map((v, i) => Math.abs(v - logits[1]![i]!)))).toBeGreaterThan(1e-3);
    } finally {
      model.close();
      await ref.dispose();
    }
  });
});
