/**
 * The BPE pre-tokenizers, by `tokenizer.ggml.pre`: which splitters run, in
 * which order, and the flags llama.cpp ties to each pre-type (ignore_merges,
 * add_bos, clean_spaces). Names llama.cpp groups together share an entry.
 * Anything not listed is refused with ERR_UNSUPPORTED_TOKENIZER: a wrong
 * pre-tokenizer gives plausible but wrong ids, so there is no fallback.
 */
import { ShortgptError } from "../errors.js";
import { regexSplitter, splitEachNumber, splitGpt2, splitLlama3, splitQwen2, type Splitter } from "./split.js";

export interface PreTokenizer {
  /** Canonical name of the family (the llama.cpp pre-type it follows). */
  readonly family: string;
  readonly splitters: readonly Splitter[];
  /** A word that is itself a token skips the merges (Llama 3). */
  readonly ignoreMerges: boolean;
  /** Default of add_bos before the add_bos_token key (BPE default: false). */
  readonly addBos: boolean;
  /** clean_up_tokenization_spaces in detokenization (BPE default: true). */
  readonly cleanSpaces: boolean;
  /** add_sep default (used by embedding models, not by tokenization). */
  readonly addSep: boolean;
  /** The pre-type clears the default BOS id (GLM-4). */
  readonly noDefaultBos: boolean;
}

/** A character class from inclusive code point ranges, for patterns run with the `u` flag. */
function charClass(ranges: readonly (readonly [number, number])[]): string {
  const esc = (cp: number) => `\\u{${cp.toString(16)}}`;
  return `[${ranges.map(([a, b]) => (a === b ? esc(a) : `${esc(a)}-${esc(b)}`)).join("")}]`;
}

// DeepSeek LLM's tokenizer.json patterns, as code point ranges: its letters
// (cased letters of Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee, ...),
// its ASCII and full-width punctuation, and its CJK/Hangul block.
const DEEPSEEK_LETTERS: readonly (readonly [number, number])[] = [
  [0x41, 0x5a], [0x61, 0x7a], [0xb5, 0xb5], [0xc0, 0xd6], [0xd8, 0xf6], [0xf8, 0x1ba], [0x1bc, 0x1bf], [0x1c4, 0x293],
  [0x295, 0x2af], [0x370, 0x373], [0x376, 0x377], [0x37b, 0x37d], [0x37f, 0x37f], [0x386, 0x386], [0x388, 0x38a],
  [0x38c, 0x38c], [0x38e, 0x3a1], [0x3a3, 0x3f5], [0x3f7, 0x481], [0x48a, 0x52f], [0x531, 0x556], [0x10a0, 0x10c5],
  [0x13a0, 0x13f5], [0x13f8, 0x13fd], [0x1c90, 0x1cba], [0x1cbd, 0x1cbf], [0x1d00, 0x1d2b], [0x1d6b, 0x1d77],
  [0x1d79, 0x1d9a], [0x1e00, 0x1f15], [0x1f18, 0x1f1d], [0x1f20, 0x1f45], [0x1f48, 0x1f4d], [0x1f50, 0x1f57],
  [0x1f59, 0x1f59], [0x1f5b, 0x1f5b], [0x1f5d, 0x1f5d], [0x1f5f, 0x1f7d], [0x1f80, 0x1fb4], [0x1fb6, 0x1fbc],
  [0x1fbe, 0x1fbe], [0x1fc2, 0x1fc4], [0x1fc6, 0x1fcc], [0x1fd0, 0x1fd3], [0x1fd6, 0x1fdb], [0x1fe0, 0x1fec],
  [0x1ff2, 0x1ff4], [0x1ff6, 0x1ffc], [0x2102, 0x2102], [0x2107, 0x2107], [0x210a, 0x2113], [0x2115, 0x2115],
  [0x2119, 0x211d], [0x2124, 0x2124], [0x2126, 0x2126], [0x2128, 0x2128], [0x212a, 0x212d], [0x212f, 0x2134],
  [0x2139, 0x2139], [0x213c, 0x213f], [0x2145, 0x2149], [0x214e, 0x214e], [0x2183, 0x2184], [0x2c00, 0x2c7b],
  [0x2c7e, 0x2ce4], [0x2ceb, 0x2cee], [0x2cf2, 0x2cf3], [0xa640, 0xa66d], [0xa680, 0xa69b], [0xa722, 0xa76f],
  [0xa771, 0xa787], [0xa78b, 0xa78e], [0xab70, 0xabbf], [0xfb00, 0xfb06], [0xfb13, 0xfb17], [0xff21, 0xff3a],
  [0xff41, 0xff5a], [0x10400, 0x1044f], [0x104b0, 0x104d3], [0x104d8, 0x104fb], [0x10c80, 0x10cb2], [0x10cc0, 0x10cf2],
  [0x118a0, 0x118df], [0x1e900, 0x1e943],
];
const DEEPSEEK_PUNCTUATION: readonly (readonly [number, number])[] = [
  [0x21, 0x2f], [0x3a, 0x7e], [0xff01, 0xff0f], [0xff1a, 0xff5e], [0x2018, 0x201f], [0x3000, 0x3002],
];
const DEEPSEEK_CJK: readonly (readonly [number, number])[] = [[0x4e00, 0x9fa5], [0x800, 0x4e00], [0xac00, 0xd7ff]];

/** Splitters are built on first use (regexes compile, tables load). */
function lazy(splitters: () => Splitter[]): () => readonly Splitter[] {
  let built: Splitter[] | undefined;
  return () => (built ??= splitters());
}

const FAMILIES = {
  default: lazy(() => [
    regexSplitter("[\\p{P}\\$\\+<=>\\^~\\|]+"),
    splitGpt2,
    regexSplitter("\\p{N}+"),
    regexSplitter("[0-9][0-9][0-9]"),
  ]),
  gpt2: lazy(() => [splitGpt2]),
  llama3: lazy(() => [splitLlama3]),
  qwen2: lazy(() => [splitQwen2]),
  // `\p{N}` then the GPT-2 pattern (StarCoder, SmolLM, Command-R, Refact, ...)
  starcoder: lazy(() => [splitEachNumber, splitGpt2]),
  falcon: lazy(() => [regexSplitter("[\\p{P}\\$\\+<=>\\^~\\|`]+"), splitGpt2, regexSplitter("[0-9][0-9][0-9]")]),
  "deepseek-llm": lazy(() => [
    regexSplitter("[\\r\\n]"),
    regexSplitter(`\\s?${charClass(DEEPSEEK_LETTERS)}+`),
    regexSplitter(`\\s?${charClass(DEEPSEEK_PUNCTUATION)}+`),
    regexSplitter("\\s+$"),
    regexSplitter(`${charClass(DEEPSEEK_CJK)}+`),
    regexSplitter("\\p{N}+"),
  ]),
  "deepseek-coder": lazy(() => [
    regexSplitter("[\\r\\n]"),
    regexSplitter("\\s?\\p{L}+"),
    regexSplitter("\\s?\\p{P}+"),
    regexSplitter(`${charClass(DEEPSEEK_CJK)}+`),
    splitEachNumber,
  ]),
} as const;

type FamilyName = keyof typeof FAMILIES;

interface Entry {
  family: FamilyName;
  ignoreMerges?: boolean;
  addBos?: boolean;
  cleanSpaces?: boolean;
  addSep?: boolean;
  noDefaultBos?: boolean;
}

const LLAMA3: Entry = { family: "llama3", ignoreMerges: true, addBos: true };
const GPT2: Entry = { family: "gpt2" };
const STARCODER: Entry = { family: "starcoder" };
const QWEN2: Entry = { family: "qwen2", cleanSpaces: false };

/** tokenizer.ggml.pre values we support, with llama.cpp's flags for each. */
const PRE_TYPES: Readonly<Record<string, Entry>> = {
  default: { family: "default" },
  llama3: LLAMA3,
  "llama-v3": LLAMA3,
  "llama-bpe": LLAMA3,
  falcon3: LLAMA3,
  "falcon-h1": LLAMA3,
  pixtral: LLAMA3,
  "midm-2.0": LLAMA3,
  lfm2: LLAMA3,
  "jina-v5-nano": LLAMA3,
  dbrx: { family: "llama3" },
  "smaug-bpe": { family: "llama3" },
  glm4: { family: "llama3", noDefaultBos: true },
  "chatglm-bpe": { family: "llama3", noDefaultBos: true },
  "deepseek-llm": { family: "deepseek-llm", cleanSpaces: false },
  "deepseek-coder": { family: "deepseek-coder", cleanSpaces: false },
  falcon: { family: "falcon" },
  mpt: GPT2,
  "gpt-2": GPT2,
  "phi-2": GPT2,
  "jina-es": GPT2,
  "jina-de": GPT2,
  gigachat: GPT2,
  "jina-v2-es": GPT2,
  "jina-v2-de": GPT2,
  "a.x-4.0": GPT2,
  mellum: GPT2,
  "modern-bert": GPT2,
  exaone4: GPT2,
  olmo: GPT2,
  jais: GPT2,
  trillion: { family: "gpt2", cleanSpaces: false },
  "granite-docling": { family: "gpt2", cleanSpaces: false },
  "jina-v1-en": { family: "gpt2", addSep: true },
  "jina-v2-code": { family: "gpt2", addSep: true },
  "roberta-bpe": { family: "gpt2", addSep: true },
  starcoder: STARCODER,
  refact: STARCODER,
  "command-r": { family: "starcoder", cleanSpaces: false },
  smollm: { family: "starcoder", cleanSpaces: false },
  codeshell: STARCODER,
  exaone: STARCODER,
  "minerva-7b": STARCODER,
  mellum2: STARCODER,
  qwen2: QWEN2,
  "deepseek-r1-qwen": QWEN2,
  kormo: QWEN2,
  f2llmv2: QWEN2,
  megrez: { family: "qwen2" },
  stablelm2: { family: "qwen2" },
  hunyuan: QWEN2,
  "grok-2": QWEN2,
  "solar-open": QWEN2,
};

/** All supported tokenizer.ggml.pre values. */
export const SUPPORTED_PRE_TYPES: readonly string[] = Object.keys(PRE_TYPES);

/**
 * The pre-tokenizer for a BPE vocabulary's tokenizer.ggml.pre ("default"
 * when the key is missing, as llama.cpp does, with a warning there).
 */
export function preTokenizerFor(pre: string): PreTokenizer {
  const entry = Object.hasOwn(PRE_TYPES, pre) ? PRE_TYPES[pre] : undefined;
  if (!entry) {
    throw new ShortgptError(
      "ERR_UNSUPPORTED_TOKENIZER",
      `BPE pre-tokenizer '${pre}' (tokenizer.ggml.pre) is not supported; supported: ${SUPPORTED_PRE_TYPES.join(", ")}`,
    );
  }
  return {
    family: entry.family,
    splitters: FAMILIES[entry.family](),
    ignoreMerges: entry.ignoreMerges ?? false,
    addBos: entry.addBos ?? false,
    cleanSpaces: entry.cleanSpaces ?? true,
    addSep: entry.addSep ?? false,
    noDefaultBos: entry.noDefaultBos ?? false,
  };
}
