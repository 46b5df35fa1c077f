/**
 * Pre-tokenizers without a vocabulary of their own here (the Llama 3 and
 * Qwen2 vocabularies are too large for ../shared/data): the GPT-2 vocabulary
 * is written out again with another tokenizer.ggml.pre, and llama.cpp and we
 * tokenize with it. The ids are not those of the real models, but they show
 * that splitting, ignore_merges and add_bos follow llama.cpp for that pre-type.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { readGguf } from "../src/gguf/read.js";
import { kv } from "../src/gguf/value.js";
import { layoutGguf } from "../src/gguf/write.js";
import { loadTokenizer } from "../src/tokenizer/index.js";
import { SHARED_DATA, sharedData } from "./helpers/data.js";
import { loadReferenceVocab } from "./helpers/llama-reference.js";
import { NASTY_STRINGS } from "./helpers/tokenizer-strings.js";

const PRE_TYPES = ["llama-bpe", "qwen2", "deepseek-r1-qwen", "dbrx", "chatglm-bpe", "default", "falcon", "smollm", "command-r", "deepseek-llm", "stablelm2", "olmo"];

describe.skipIf(!SHARED_DATA)("pre-types on the GPT-2 vocabulary, against llama.cpp", () => {
  const dir = mkdtempSync(join(tmpdir(), "shortgpt-pre-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const texts = SHARED_DATA
    ? [...NASTY_STRINGS, ...readFileSync(sharedData("text/wikitext-2-raw/wiki.valid.raw"), "utf8").slice(0, 200_000).split("\n")]
    : [];

  for (const pre of PRE_TYPES) {
    it(`${pre}: same ids and BOS flag as llama.cpp`, async () => {
      const base = readGguf(sharedData("tokenizer/ggml-vocab-gpt-2.gguf"));
      const spec = {
        version: base.version,
        kv: base.kv.map((e) => (e.key === "tokenizer.ggml.pre" ? kv.string("tokenizer.ggml.pre", pre) : e)),
        tensors: [],
      };
      const path = join(dir, `vocab-${pre}.gguf`);
      writeFileSync(path, layoutGguf(spec).header);
      const ours = loadTokenizer(path);
      const ref = await loadReferenceVocab(path);
      try {
        expect(ours.pre).toBe(pre);
        expect(ours.addBos).toBe(ref.tokens.shouldPrependBosToken);
        expect(ours.special.bos).toBe(ref.tokens.bos);
        const bad: { text: string; special: boolean }[] = [];
        for (const special of [false, true]) {
          for (const text of special ? NASTY_STRINGS : texts) {
            const llama = Array.from(ref.tokenize(text, special), Number);
            const mine = ours.encode(text, { addSpecial: false, parseSpecial: special });
            if (mine.length !== llama.length || mine.some((id, i) => id !== llama[i])) bad.push({ text: text.slice(0, 120), special });
          }
        }
        expect(bad).toEqual([]);
      } finally {
        await ref.dispose();
      }
    });
  }
});
