/**
 * The vocabulary of a GGUF file, read from its tokenizer.ggml.* keys with
 * the defaults, overrides and fix-ups llama.cpp applies when it loads one
 * (llama_vocab::impl::load): special token ids, add_bos/add_eos, token
 * attributes (including the control/user-defined changes it makes by token
 * text and model name), and the special tokens that are split out of text
 * before tokenizing.
 */
import { ShortgptError } from "../errors.js";
import { optionalBool, optionalInteger, optionalString } from "../gguf/metadata.js";
import type { GgufFile } from "../gguf/read.js";
import { GgufValueType } from "../gguf/types.js";
import { GgufStringArray } from "../gguf/value.js";
import { preTokenizerFor, type PreTokenizer } from "./pre-tokenizers.js";
import { ByteStringTable } from "./token-table.js";

/** llama_token_attr bits. */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

/** tokenizer.ggml.token_type values -> attributes. */
const TYPE_TO_ATTR: Readonly<Record<number, number>> = {
  0: TokenAttr.UNDEFINED,
  1: TokenAttr.NORMAL,
  2: TokenAttr.UNKNOWN,
  3: TokenAttr.CONTROL,
  4: TokenAttr.USER_DEFINED,
  5: TokenAttr.UNUSED,
  6: TokenAttr.BYTE,
};

/** Special token ids; -1 when the vocabulary has none. */
export interface SpecialTokenIds {
  bos: number;
  eos: number;
  eot: number;
  eom: number;
  unk: number;
  sep: number;
  pad: number;
  mask: number;
  fimPre: number;
  fimSuf: number;
  fimMid: number;
  fimPad: number;
  fimRep: number;
  fimSep: number;
}

export type VocabType = "spm" | "bpe";

export interface Vocab {
  /** tokenizer.ggml.model */
  readonly model: string;
  readonly type: VocabType;
  /** tokenizer.ggml.pre as stored ("" when absent). */
  readonly pre: string;
  /** The BPE pre-tokenizer; undefined for SPM. */
  readonly preTokenizer: PreTokenizer | undefined;
  readonly size: number;
  /** Token strings as bytes: token i is bytes[offsets[i], offsets[i + 1]). */
  readonly bytes: Uint8Array;
  readonly offsets: Int32Array;
  readonly scores: Float32Array;
  /** TokenAttr bits per token. */
  readonly attrs: Uint16Array;
  readonly special: Readonly<SpecialTokenIds>;
  /** End-of-generation ids. */
  readonly eog: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSep: boolean;
  readonly addSpacePrefix: boolean;
  /** Read for completeness: llama.cpp applies it only in the UGM (T5) tokenizer. */
  readonly removeExtraWhitespaces: boolean;
  readonly ignoreMerges: boolean;
  readonly cleanSpaces: boolean;
  /** BPE merges ("left right" per line, rank = index). */
  readonly merges: GgufStringArray | undefined;
  /** Token strings -> ids. */
  readonly table: ByteStringTable;
  /** Control, user-defined and unknown tokens, longest text first: split out of text before tokenizing. */
  readonly specialTokens: Int32Array;
}

/** Tokenizer models llama.cpp has that we do not implement, with the reason. */
const UNSUPPORTED_MODELS: Readonly<Record<string, string>> = {
  bert: "WordPiece (WPM) vocabularies, used by BERT-style embedding models, are not supported",
  t5: "Unigram (UGM) vocabularies, used by T5-style models, are not supported",
  rwkv: "RWKV vocabularies are not supported",
  plamo2: "PLaMo-2 vocabularies are not supported",
  gemma4: "Gemma 4 SPM-style BPE vocabularies are not supported",
  hybriddna: "hybrid DNA BPE vocabularies are not supported",
  whitespace: "whitespace BPE vocabularies are not supported",
  none: "the model has no vocabulary (tokenizer.ggml.model = none)",
  no_vocab: "the model has no vocabulary (tokenizer.ggml.model = no_vocab)",
};

const utf8 = new TextEncoder();

function vocabError(file: GgufFile, message: string): ShortgptError {
  return new ShortgptError("ERR_TOKENIZER_VOCAB", `${file.path}: ${message}`);
}

export function loadVocab(file: GgufFile): Vocab {
  const model = optionalString(file, "tokenizer.ggml.model");
  if (model === undefined) throw vocabError(file, "tokenizer.ggml.model is missing: the file has no tokenizer");
  const pre = optionalString(file, "tokenizer.ggml.pre") ?? "";
  if (model !== "llama" && model !== "gpt2") {
    const why = UNSUPPORTED_MODELS[model] ?? `tokenizer model '${model}' is unknown`;
    throw new ShortgptError("ERR_UNSUPPORTED_TOKENIZER", `${file.path}: ${why} (tokenizer.ggml.model = '${model}')`);
  }
  const type: VocabType = model === "llama" ? "spm" : "bpe";

  // Defaults by tokenizer type, then by pre-type (llama.cpp order).
  const special: SpecialTokenIds = {
    bos: -1, eos: -1, eot: -1, eom: -1, unk: -1, sep: -1, pad: -1, mask: -1,
    fimPre: -1, fimSuf: -1, fimMid: -1, fimPad: -1, fimRep: -1, fimSep: -1,
  };
  let addBos: boolean;
  let addEos = false;
  let addSep = false;
  let addSpacePrefix: boolean;
  let ignoreMerges = false;
  let cleanSpaces: boolean;
  let preTokenizer: PreTokenizer | undefined;
  let merges: GgufStringArray | undefined;
  if (type === "spm") {
    Object.assign(special, { bos: 1, eos: 2, unk: 0 });
    addBos = true;
    addSpacePrefix = true;
    cleanSpaces = false;
  } else {
    const mergesKv = file.get("tokenizer.ggml.merges");
    if (!mergesKv) throw vocabError(file, "tokenizer.ggml.merges is missing (a gpt2 BPE vocabulary needs its merges)");
    if (!(mergesKv.value instanceof GgufStringArray)) throw vocabError(file, "tokenizer.ggml.merges must be an array of strings");
    merges = mergesKv.value;
    Object.assign(special, { bos: 11, eos: 11 });
    preTokenizer = preTokenizerFor(pre === "" ? "default" : pre);
    addBos = preTokenizer.addBos;
    addSep = preTokenizer.addSep;
    ignoreMerges = preTokenizer.ignoreMerges;
    cleanSpaces = preTokenizer.cleanSpaces;
    addSpacePrefix = false;
    if (preTokenizer.noDefaultBos) special.bos = -1;
  }
  addSpacePrefix = optionalBool(file, "tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;
  const removeExtraWhitespaces = optionalBool(file, "tokenizer.ggml.remove_extra_whitespaces") ?? false;

  // Tokens, scores, types.
  const tokensKv = file.get("tokenizer.ggml.tokens");
  if (!tokensKv) throw vocabError(file, "tokenizer.ggml.tokens is missing");
  if (!(tokensKv.value instanceof GgufStringArray)) throw vocabError(file, "tokenizer.ggml.tokens must be an array of strings");
  const { bytes, offsets } = tokenBytes(tokensKv.value);
  const size = offsets.length - 1;

  const scores = new Float32Array(size);
  const scoresKv = file.get("tokenizer.ggml.scores");
  if (scoresKv) {
    const v = scoresKv.value;
    if (!(v instanceof Float32Array || v instanceof Int32Array)) throw vocabError(file, "tokenizer.ggml.scores must be an array of f32 or i32");
    if (v.length < size) throw vocabError(file, `tokenizer.ggml.scores has ${v.length} entries for ${size} tokens`);
    for (let i = 0; i < size; i++) scores[i] = v[i]!;
  }

  const attrs = new Uint16Array(size).fill(TokenAttr.NORMAL);
  const typesKv = file.get("tokenizer.ggml.token_type");
  if (typesKv) {
    if (typesKv.itemType !== GgufValueType.INT32) throw vocabError(file, "tokenizer.ggml.token_type must be an array of i32");
    const v = typesKv.value as Int32Array;
    if (v.length < size) throw vocabError(file, `tokenizer.ggml.token_type has ${v.length} entries for ${size} tokens`);
    for (let i = 0; i < size; i++) attrs[i] = TYPE_TO_ATTR[v[i]!] ?? TokenAttr.UNDEFINED;
  }

  const table = new ByteStringTable(bytes, offsets);
  for (let i = 0; i < size; i++) {
    const found = table.find(bytes, offsets[i]!, offsets[i + 1]!);
    if (found !== i) {
      // llama.cpp aborts on this (GGML_ASSERT): two ids for one string.
      throw vocabError(file, `tokens ${found} and ${i} are the same string ${JSON.stringify(tokensKv.value.get(i))}`);
    }
  }
  const idOf = (text: string): number => {
    const b = utf8.encode(text);
    return table.find(b, 0, b.length);
  };
  const textOf = (id: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + offsets[id]!, offsets[id + 1]! - offsets[id]!).toString("utf8");

  // Special ids from the file. A default outside the vocabulary is dropped; a
  // key outside it is ignored (the default stays), as llama.cpp does.
  const keys: [keyof SpecialTokenIds, string][] = [
    ["bos", "bos_token_id"],
    ["eos", "eos_token_id"],
    ["eot", "eot_token_id"],
    ["eom", "eom_token_id"],
    ["unk", "unknown_token_id"],
    ["sep", "seperator_token_id"],
    ["pad", "padding_token_id"],
    ["mask", "mask_token_id"],
    ["fimPre", "fim_pre_token_id"],
    ["fimSuf", "fim_suf_token_id"],
    ["fimMid", "fim_mid_token_id"],
    ["fimPad", "fim_pad_token_id"],
    ["fimRep", "fim_rep_token_id"],
    ["fimSep", "fim_sep_token_id"],
    ["fimPre", "prefix_token_id"],
    ["fimSuf", "suffix_token_id"],
    ["fimMid", "middle_token_id"],
  ];
  for (const [field, key] of keys) {
    if (special[field] >= size) special[field] = -1;
    const id = optionalInteger(file, `tokenizer.ggml.${key}`);
    if (id !== undefined && id >= 0 && id < size) special[field] = id;
  }
  addBos = optionalBool(file, "tokenizer.ggml.add_bos_token") ?? addBos;
  addEos = optionalBool(file, "tokenizer.ggml.add_eos_token") ?? addEos;
  addSep = optionalBool(file, "tokenizer.ggml.add_sep_token") ?? addSep;

  const markControl = (id: number) => {
    attrs[id]! |= TokenAttr.CONTROL;
  };
  // Special tokens found by their text when no key names them. llama.cpp
  // takes the first candidate in hash-map order; we take the lowest id (the
  // choice never changes tokenization: it only decides which id is reported).
  const detect = (field: keyof SpecialTokenIds, texts: readonly string[]) => {
    if (special[field] !== -1) return;
    let best = -1;
    for (const t of texts) {
      const id = idOf(t);
      if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    if (best >= 0) {
      special[field] = best;
      markControl(best);
    }
  };
  detect("eot", ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"]);
  detect("eom", ["<|eom_id|>"]);
  detect("fimPre", ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"]);
  detect("fimSuf", ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"]);
  detect("fimMid", ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"]);
  detect("fimPad", ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]);
  detect("fimRep", ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]);
  detect("fimSep", ["<|file_sep|>"]);

  // Control tokens whose text says "unused".
  for (let id = 0; id < size; id++) {
    if (attrs[id]! & TokenAttr.CONTROL && !(attrs[id]! & TokenAttr.UNUSED) && textOf(id).includes("unused")) attrs[id]! |= TokenAttr.UNUSED;
  }

  // End-of-generation tokens, by id and by text; tokens found by text become control tokens.
  const eog = new Set<number>();
  for (const id of [special.fimPad, special.fimRep, special.fimSep]) if (id >= 0) eog.add(id);
  for (const t of EOG_TEXTS) {
    const id = idOf(t);
    if (id >= 0) {
      eog.add(id);
      markControl(id);
    }
  }
  // gpt-oss: these are always rendered.
  for (const t of ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]) {
    const id = idOf(t);
    if (id >= 0) attrs[id] = TokenAttr.USER_DEFINED;
  }
  for (const id of [special.eos, special.eot, special.eom]) if (id >= 0) eog.add(id);
  // o200k_harmony and solar-open: "<|end|>" is not end-of-generation there.
  const inEog = (t: string) => {
    const id = idOf(t);
    return id >= 0 && eog.has(id) ? id : -1;
  };
  const endId = inEog("<|end|>");
  if (endId >= 0 && ((inEog("<|return|>") >= 0 && (inEog("<|call|>") >= 0 || inEog("<|calls|>") >= 0)) || ((inEog("<|call|>") >= 0 || inEog("<|calls|>") >= 0) && inEog("<|flush|>") >= 0))) {
    eog.delete(endId);
    attrs[endId] = TokenAttr.USER_DEFINED;
  }
  // Gemma 4 and PaddleOCR: "</s>" is not end-of-generation when "<|tool_response>" is.
  const sId = inEog("</s>");
  if (sId >= 0 && inEog("<|tool_response>") >= 0) {
    eog.delete(sId);
    attrs[sId] = TokenAttr.NORMAL;
  }

  // Tokens split out of raw text before tokenizing, longest first (llama.cpp's
  // sort is not stable; equal lengths keep id order here).
  const specialIds: number[] = [];
  for (let id = 0; id < size; id++) {
    if (attrs[id]! & (TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)) specialIds.push(id);
  }
  const byteLength = (id: number) => offsets[id + 1]! - offsets[id]!;
  specialIds.sort((a, b) => byteLength(b) - byteLength(a) || a - b);

  // Per-model strip attributes llama.cpp sets by name.
  const name = (optionalString(file, "general.name") ?? "").toLowerCase();
  const arch = optionalString(file, "general.architecture") ?? "";
  const setAttr = (id: number, attr: number, on: boolean) => {
    if (id >= 0) attrs[id] = on ? attrs[id]! | attr : attrs[id]! & ~attr;
  };
  if (["jina-v2-de", "jina-v2-es", "jina-v2-code"].some((s) => pre.includes(s)) || ["nomic-bert-moe", "jina-bert-v3"].some((s) => arch.includes(s))) {
    setAttr(idOf("<mask>"), TokenAttr.LSTRIP, true);
  } else if (name.includes("phi-3") || name.includes("phi3")) {
    for (const id of specialIds) setAttr(id, TokenAttr.RSTRIP, true);
    setAttr(idOf("</s>"), TokenAttr.RSTRIP, true);
    for (const t of ["<unk>", "<s>", "<|endoftext|>"]) setAttr(idOf(t), TokenAttr.RSTRIP, false);
  } else if (name.includes("modern-bert")) {
    setAttr(idOf("[MASK]"), TokenAttr.LSTRIP, true);
  }

  return {
    model,
    type,
    pre,
    preTokenizer,
    size,
    bytes,
    offsets,
    scores,
    attrs,
    special,
    eog,
    addBos,
    addEos,
    addSep,
    addSpacePrefix,
    removeExtraWhitespaces,
    ignoreMerges,
    cleanSpaces,
    merges,
    table,
    specialTokens: Int32Array.from(specialIds),
  };
}

/** Texts of end-of-generation tokens (llama.cpp's list). */
const EOG_TEXTS: readonly string[] = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
  "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>",
  "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
];

/** Token bytes with offsets as Int32; an empty token becomes "[EMPTY_<id>]" as in llama.cpp. */
function tokenBytes(tokens: GgufStringArray): { bytes: Uint8Array; offsets: Int32Array } {
  const n = tokens.length;
  let empty = 0;
  for (let i = 0; i < n; i++) if (tokens.offsets[i + 1] === tokens.offsets[i]) empty++;
  if (empty === 0) return { bytes: tokens.bytes, offsets: Int32Array.from(tokens.offsets) };
  const parts: Uint8Array[] = [];
  const offsets = new Int32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const b = tokens.offsets[i + 1] === tokens.offsets[i] ? utf8.encode(`[EMPTY_${i}]`) : tokens.bytesAt(i);
    parts.push(b);
    offsets[i] = total;
    total += b.length;
  }
  offsets[n] = total;
  const bytes = new Uint8Array(total);
  parts.forEach((p, i) => bytes.set(p, offsets[i]!));
  return { bytes, offsets };
}
