/**
 * Every supported architecture against llama.cpp on a small random model with
 * F32 weights (test/helpers/arch-models.ts: qwen2, qwen3, phi3, gemma2, gemma3
 * and llama with llama3 RoPE frequency factors, each with its distinctive
 * features).
 *
 * Random weights are numerically tame, so the bar is close agreement:
 * the same greedy token everywhere and ln p within 2e-3.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { openModel } from "../src/model.js";
import { ARCH_MODELS, buildArchModel, TOKENS, VOCAB } from "./helpers/arch-models.js";
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
});
