/**
 * The tokenizer's parts on their own: vocabulary defaults and key overrides
 * (llama.cpp's rules), refusals, the Unicode table, the splitters against
 * the general regex path, and round trips on the llama.cpp vocabularies.
 */
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { errorCode } from "../src/errors.js";
import { readGguf, type GgufFile } from "../src/gguf/read.js";
import { kv, type GgufKv } from "../src/gguf/value.js";
import { loadTokenizer } from "../src/tokenizer/index.js";
import { Segments, SplitText, regexSplitter, splitEachNumber, splitGpt2, type Splitter } from "../src/tokenizer/split.js";
import { CATEGORY_MASK, FLAG_WHITESPACE, codepointFlags, codepointsOfBytes, codepointsOfString } from "../src/tokenizer/unicode.js";
import { SHARED_DATA, SMOLLM2_PATH, sharedData } from "./helpers/data.js";
import { NASTY_STRINGS } from "./helpers/tokenizer-strings.js";

/** The file with some metadata keys replaced (a GgufKv) or removed (null). */
function withKeys(file: GgufFile, changes: Record<string, GgufKv | null>): GgufFile {
  return {
    ...file,
    kv: file.kv.filter((e) => !(e.key in changes)).concat(Object.values(changes).filter((e): e is GgufKv => e !== null)),
    get: (key: string) => (key in changes ? (changes[key] ?? undefined) : file.get(key)),
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return errorCode(error);
  }
  return undefined;
}

describe("vocabulary loading (llama.cpp's defaults and overrides)", () => {
  const smol = readGguf(SMOLLM2_PATH);

  it("BPE: add_bos is off unless the pre-type is llama3-like; the key overrides it", () => {
    const base = { "tokenizer.ggml.add_bos_token": null, "tokenizer.ggml.add_eos_token": null };
    expect(loadTokenizer(withKeys(smol, base)).addBos).toBe(false);
    expect(loadTokenizer(withKeys(smol, { ...base, "tokenizer.ggml.pre": kv.string("tokenizer.ggml.pre", "llama-bpe") })).addBos).toBe(true);
    expect(loadTokenizer(withKeys(smol, { ...base, "tokenizer.ggml.add_bos_token": kv.bool("tokenizer.ggml.add_bos_token", true) })).addBos).toBe(true);
    expect(
      loadTokenizer(withKeys(smol, { "tokenizer.ggml.pre": kv.string("tokenizer.ggml.pre", "llama3"), "tokenizer.ggml.add_bos_token": kv.bool("tokenizer.ggml.add_bos_token", false) })).addBos,
    ).toBe(false);
  });

  it("BPE: a missing pre-type is 'default'; BOS/EOS default to 11 when no key names them", () => {
    const t = loadTokenizer(
      withKeys(smol, { "tokenizer.ggml.pre": null, "tokenizer.ggml.bos_token_id": null, "tokenizer.ggml.eos_token_id": null }),
    );
    expect(t.pre).toBe("default");
    expect(t.special.bos).toBe(11);
    expect(t.special.eos).toBe(11);
    // The default pre-tokenizer splits punctuation runs and groups of three digits first.
    expect(t.encode("12345", { addSpecial: false }).length).toBeGreaterThanOrEqual(2);
  });

  it("a special id key outside the vocabulary is ignored", () => {
    const t = loadTokenizer(withKeys(smol, { "tokenizer.ggml.bos_token_id": kv.u32("tokenizer.ggml.bos_token_id", 999_999) }));
    expect(t.special.bos).toBe(11);
  });

  it("an unknown BPE pre-type is refused, naming it", () => {
    let message = "";
    try {
      loadTokenizer(withKeys(smol, { "tokenizer.ggml.pre": kv.string("tokenizer.ggml.pre", "tekken") }));
    } catch (error) {
      expect(errorCode(error)).toBe("ERR_UNSUPPORTED_TOKENIZER");
      message = (error as Error).message;
    }
    expect(message).toMatch(/'tekken'/);
  });

  it("unsupported tokenizer models are refused with the reason; a file without tokenizer too", () => {
    for (const model of ["t5", "bert", "rwkv", "plamo2", "gemma4", "none", "something-new"]) {
      expect(codeOf(() => loadTokenizer(withKeys(smol, { "tokenizer.ggml.model": kv.string("tokenizer.ggml.model", model) })))).toBe("ERR_UNSUPPORTED_TOKENIZER");
    }
    expect(codeOf(() => loadTokenizer(withKeys(smol, { "tokenizer.ggml.model": null })))).toBe("ERR_TOKENIZER_VOCAB");
    expect(codeOf(() => loadTokenizer(withKeys(smol, { "tokenizer.ggml.merges": null })))).toBe("ERR_TOKENIZER_VOCAB");
  });

  it.skipIf(!SHARED_DATA)("SPM: BOS 1, EOS 2, UNK 0, add_bos and the space prefix by default", () => {
    const file = readGguf(sharedData("tokenizer/ggml-vocab-llama-spm.gguf"));
    const t = loadTokenizer(
      withKeys(file, {
        "tokenizer.ggml.bos_token_id": null,
        "tokenizer.ggml.eos_token_id": null,
        "tokenizer.ggml.unknown_token_id": null,
        "tokenizer.ggml.add_bos_token": null,
        "tokenizer.ggml.add_eos_token": null,
      }),
    );
    expect([t.special.bos, t.special.eos, t.special.unk, t.addBos, t.addEos, t.addSpacePrefix]).toEqual([1, 2, 0, true, false, true]);
    expect(t.encode("Hello world")).toEqual([1, 15043, 3186]);
    const noPrefix = loadTokenizer(withKeys(file, { "tokenizer.ggml.add_space_prefix": kv.bool("tokenizer.ggml.add_space_prefix", false) }));
    expect(noPrefix.encode("Hello", { addSpecial: false })).not.toEqual(t.encode("Hello", { addSpecial: false }));
  });

  it.skipIf(!SHARED_DATA)("user-defined tokens are always split out; control tokens only with parseSpecial", () => {
    const mpt = loadTokenizer(sharedData("tokenizer/ggml-vocab-mpt.gguf"));
    // mpt has user-defined runs of spaces ("  ", "   ", ...) and the control token <|endoftext|> (0).
    const run = mpt.encode("a    b", { addSpecial: false });
    expect(run.some((id) => mpt.tokenText(id) === "   " || mpt.tokenText(id) === "    ")).toBe(true);
    expect(mpt.encode("<|endoftext|>", { addSpecial: false, parseSpecial: true })).toEqual([0]);
    expect(mpt.encode("<|endoftext|>", { addSpecial: false, parseSpecial: false })).not.toContain(0);
  });
});

describe("Unicode table (Unicode 15.1, as llama.cpp's)", () => {
  it("agrees with the JS engine's classes wherever Unicode 15.1 had assigned the code point", () => {
    const flags = codepointFlags();
    const classes: [number, RegExp][] = [
      [1, /\p{N}/u],
      [2, /\p{L}/u],
      [3, /\p{Z}/u],
      [4, /\p{M}/u],
      [5, /\p{P}/u],
      [6, /\p{S}/u],
      [7, /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u],
    ];
    let newer = 0;
    const wrong: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      const ch = String.fromCodePoint(cp);
      const js = classes.find(([, re]) => re.test(ch))?.[0] ?? 0;
      const ours = flags[cp]! & CATEGORY_MASK;
      if (ours === js) continue;
      // Allowed: assigned after 15.1 (unassigned for us).
      if (ours === 0) newer++;
      else if (wrong.length < 10) wrong.push(`U+${cp.toString(16)} ours ${ours} js ${js}`);
    }
    expect(wrong).toEqual([]);
    // Unicode 16.0 and 17.0 added about 10k characters.
    expect(newer).toBeGreaterThan(1000);
    expect(newer).toBeLessThan(20_000);
    const ws = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000];
    for (const cp of ws) expect(flags[cp]! & FLAG_WHITESPACE).toBe(FLAG_WHITESPACE);
    for (const cp of [0xfeff, 0x200b, 0x180e, 0x41]) expect(flags[cp]! & FLAG_WHITESPACE).toBe(0);
  });

  it("decodes bytes like llama.cpp: one U+FFFD per byte that does not start a complete sequence", () => {
    const cps = codepointsOfBytes(Uint8Array.from([0x61, 0xff, 0xc3, 0xa9, 0xe2, 0x82, 0x41, 0x80, 0xf0, 0x9f, 0x98, 0x80]), 0, 12);
    expect(Array.from(cps)).toEqual([0x61, 0xfffd, 0xe9, 0xfffd, 0xfffd, 0x41, 0xfffd, 0x1f600]);
    expect(Array.from(codepointsOfString("a\ud800b\udc00\ud83d\ude00").cps.subarray(0, 5))).toEqual([0x61, 0xfffd, 0x62, 0xfffd, 0x1f600]);
  });
});

function segmentsOf(split: Splitter, text: string): number[] {
  const { cps, count } = codepointsOfString(text);
  const input = new Segments();
  input.push(count);
  const output = new Segments();
  split(new SplitText(cps, count), input, output);
  return Array.from(output.data.subarray(0, output.count));
}

describe("splitters", () => {
  const texts = [...NASTY_STRINGS, "x1y22z333 ٣٤ Ⅻ½ 𝟏𝟐", ...(SHARED_DATA ? readFileSync(sharedData("text/pg/pg11.txt"), "utf8").split("\n\n").slice(0, 400) : [])];

  it("the \\p{N} scanner equals the general regex path", () => {
    const general = regexSplitter("\\p{N}");
    for (const text of texts) expect(segmentsOf(splitEachNumber, text)).toEqual(segmentsOf(general, text));
  });

  it("segments cover the text exactly", () => {
    for (const text of texts) {
      const total = segmentsOf(splitGpt2, text).reduce((a, b) => a + b, 0);
      expect(total).toBe(codepointsOfString(text).count);
    }
  });

  it("the GPT-2 scanner keeps the last space of a run for the next word", () => {
    const text = "a   b";
    expect(segmentsOf(splitGpt2, text)).toEqual([1, 2, 2]);
  });
});

describe.skipIf(!SHARED_DATA)("round trips on llama.cpp's vocabularies", () => {
  const inputs = readFileSync(sharedData("tokenizer/ggml-vocab-gpt-2.gguf.inp"), "utf8").split("\n__ggml_vocab_test__\n").slice(0, -1);
  for (const name of ["gpt-2", "falcon", "mpt", "starcoder", "refact", "deepseek-coder", "deepseek-llm", "llama-spm", "phi-3"]) {
    it(`${name}: decode(encode(text)) === text (without clean-up of spaces)`, () => {
      const t = loadTokenizer(sharedData(`tokenizer/ggml-vocab-${name}.gguf`));
      for (const text of [...inputs, ...NASTY_STRINGS.filter((s) => !/[\ud800-\udfff]/u.test(s))]) {
        expect(t.decode(t.encode(text, { addSpecial: false }), { special: true, cleanSpaces: false })).toBe(text);
      }
    });
  }
});
