/**
 * llama.cpp's own tokenizer test vectors (models/ggml-vocab-*.gguf with
 * .inp/.out, ../shared/data/tokenizer): every input must give exactly the
 * expected ids (add_special = false, parse_special = false).
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { errorCode } from "../src/errors.js";
import { loadTokenizer } from "../src/tokenizer/index.js";
import { SHARED_DATA, sharedData } from "./helpers/data.js";
import { loadReferenceVocab } from "./helpers/llama-reference.js";

const SEPARATOR = "\n__ggml_vocab_test__\n";

/** Vocabularies we refuse on purpose, with the reason. */
const UNSUPPORTED: Record<string, string> = {
  "bert-bge": "WordPiece (tokenizer.ggml.model = bert) is only used by embedding models; shortgpt prunes generative models",
};

/** Vector files without a vocabulary here (too large for the snapshot, or not in llama.cpp's repository). */
const NO_VOCAB = ["chameleon", "command-r", "deepseek-r1-qwen", "llama-bpe", "qwen2", "roberta-bpe"];

function readVectors(name: string): { inputs: Buffer[]; outputs: number[][] } {
  const inp = readFileSync(sharedData(`tokenizer/ggml-vocab-${name}.gguf.inp`));
  const sep = Buffer.from(SEPARATOR);
  const inputs: Buffer[] = [];
  let at = 0;
  for (let next = inp.indexOf(sep, at); next >= 0; next = inp.indexOf(sep, at)) {
    inputs.push(inp.subarray(at, next));
    at = next + sep.length;
  }
  const lines = readFileSync(sharedData(`tokenizer/ggml-vocab-${name}.gguf.out`), "utf8").split("\n");
  const outputs = lines.slice(0, inputs.length).map((l) => (l.trim() === "" ? [] : l.trim().split(" ").map(Number)));
  return { inputs, outputs };
}

const names = SHARED_DATA
  ? readdirSync(sharedData("tokenizer"))
      .filter((f) => f.endsWith(".gguf.inp"))
      .map((f) => f.slice("ggml-vocab-".length, -".gguf.inp".length))
      .sort()
  : [];

describe.skipIf(!SHARED_DATA)("llama.cpp tokenizer vectors (../shared/data/tokenizer)", () => {
  it("finds the vector files", () => {
    expect(names.length).toBeGreaterThanOrEqual(16);
  });

  it("vectors without a vocabulary here are the known ones", () => {
    const missing = names.filter((name) => !existsSync(sharedData(`tokenizer/ggml-vocab-${name}.gguf`)));
    expect(missing).toEqual(NO_VOCAB);
  });

  for (const name of names) {
    const vocabPath = sharedData(`tokenizer/ggml-vocab-${name}.gguf`);
    if (!existsSync(vocabPath)) {
      it.skip(`${name}: vectors only, the vocabulary is not in ../shared/data`, () => {});
      continue;
    }
    if (UNSUPPORTED[name]) {
      it(`${name}: refused with ERR_UNSUPPORTED_TOKENIZER (${UNSUPPORTED[name]})`, () => {
        let error: unknown;
        try {
          loadTokenizer(vocabPath);
        } catch (e) {
          error = e;
        }
        expect(errorCode(error)).toBe("ERR_UNSUPPORTED_TOKENIZER");
        expect(String(error)).toMatch(/bert/);
      });
      continue;
    }
    it(`${name}: all inputs give llama.cpp's ids`, () => {
      const tokenizer = loadTokenizer(vocabPath);
      const { inputs, outputs } = readVectors(name);
      expect(inputs.length).toBe(46);
      for (let i = 0; i < inputs.length; i++) {
        const text = inputs[i]!.toString("utf8");
        const ids = tokenizer.encode(text, { addSpecial: false, parseSpecial: false });
        expect({ input: text, ids }).toEqual({ input: text, ids: outputs[i] });
        // The raw bytes give the same ids as the string.
        expect(tokenizer.encode(inputs[i]!, { addSpecial: false })).toEqual(ids);
      }
    });
    it(`${name}: decode equals llama.cpp's detokenize (clean-up of spaces included)`, async () => {
      const tokenizer = loadTokenizer(vocabPath);
      const ref = await loadReferenceVocab(vocabPath);
      try {
        const { outputs } = readVectors(name);
        for (const ids of outputs) {
          for (const special of [false, true]) {
            expect(tokenizer.decode(ids, { special })).toBe(ref.detokenize(ids as never, special));
          }
        }
      } finally {
        await ref.dispose();
      }
    });
  }
});
