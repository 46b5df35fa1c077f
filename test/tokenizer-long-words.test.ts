/**
 * Giant words (text with no spaces or punctuation to split it: CJK, letter
 * soup, one character repeated) are merged in 64 KiB chunks with an exact
 * compatibility check at each cut (src/tokenizer/bpe.ts, encodeLongWord).
 * The ids must be llama.cpp's, which merges such a word whole; and memory
 * must stay near the size of the text (the whole-word merge state took ~70
 * bytes per byte: 100 MB of text without spaces needed gigabytes).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import type { LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { nlpCorpusText } from "../src/data/nlp-corpus.js";
import { loadTokenizer, type Tokenizer } from "../src/tokenizer/index.js";
import { REPO_ROOT, GEMMA3_PATH, SMOLLM2_PATH } from "./helpers/data.js";
import { loadReferenceVocab } from "./helpers/llama-reference.js";

/** Deterministic pseudo-random integers in [0, n). */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const SIZE = 200_000; // three 64 KiB chunks and a rest: three cuts to check per text

function giantWords(): [string, string][] {
  const letters = nlpCorpusText({ documents: [3, 4, 5], maxCharacters: 2 * SIZE }).text.replace(/[^A-Za-z]/g, "").slice(0, SIZE);
  const r1 = rng(7);
  const r2 = rng(11);
  return [
    ["letter soup abcdefghij…", "abcdefghij".repeat(SIZE / 10)],
    ["one letter repeated", "a".repeat(SIZE)],
    ["English with everything but letters removed", letters],
    ["random lowercase letters", Array.from({ length: SIZE }, () => String.fromCharCode(97 + r1(26))).join("")],
    ["random CJK characters", Array.from({ length: SIZE / 3 }, () => String.fromCharCode(0x4e00 + r2(3000))).join("")],
  ];
}

const MODELS = [
  { name: "SmolLM2 (BPE)", path: SMOLLM2_PATH },
  { name: "Gemma 3 (SPM)", path: GEMMA3_PATH },
];

for (const model of MODELS) {
  describe(`${model.name}: giant words vs llama.cpp`, () => {
    let ours: Tokenizer;
    let ref: LlamaModel;
    beforeAll(async () => {
      ours = loadTokenizer(model.path);
      ref = await loadReferenceVocab(model.path);
    });
    afterAll(async () => {
      await ref?.dispose();
    });

    for (const [name, text] of giantWords()) {
      it(`${name} (${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB)`, () => {
        // As one word; the first also with a little normal text around it.
        for (const input of name.startsWith("letter soup") ? [text, `Before it: ${text} and after.`] : [text]) {
          const llama = Array.from(ref.tokenize(input, false), Number);
          const mine = ours.encode(input, { addSpecial: false, parseSpecial: false });
          expect(mine.length).toBe(llama.length);
          const first = mine.findIndex((id, i) => id !== llama[i]);
          expect(first, `first difference at token ${first}`).toBe(-1);
        }
      });
    }
  });
}

describe("memory", () => {
  it("a 3 MB word costs a few bytes per byte, not the whole-word merge state", () => {
    const script = `
      const { loadTokenizer } = await import(${JSON.stringify(join(REPO_ROOT, "dist", "tokenizer", "index.js"))});
      const tok = loadTokenizer(${JSON.stringify(SMOLLM2_PATH)});
      const text = "abcdefghij".repeat(300000);
      const before = process.memoryUsage().rss;
      const ids = tok.encode(text, { addSpecial: false });
      console.log(JSON.stringify({ tokens: ids.length, beforeMiB: before / 2 ** 20, peakMiB: process.resourceUsage().maxRSS / 1024 }));`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const { tokens, beforeMiB, peakMiB } = JSON.parse(r.stdout) as { tokens: number; beforeMiB: number; peakMiB: number };
    console.log(`[tokenizer-long-words] 3 MB word: ${tokens} tokens, RSS ${beforeMiB.toFixed(0)} MiB before, peak ${peakMiB.toFixed(0)} MiB`);
    expect(tokens).toBe(1_200_000);
    // Code points (4 B/char), UTF-8 bytes (1 B), the ids array (8 B/token, 0.4 token/char, grown
    // by copying) and 64 KiB chunk state: ~10-25 B/char = 30-75 MB over the start (measured 49-92 MiB, with garbage not yet collected).
    // The whole-word loop took ~70 B/char (measured 213 MiB over the start for this word).
    expect(peakMiB - beforeMiB).toBeLessThan(150);
  });
});
