/**
 * The public tokenizer: llama.cpp's llama_tokenize / llama_detokenize over a
 * GGUF vocabulary, SPM or byte-level BPE, token for token.
 */
import { isUtf8 } from "node:buffer";

import { ShortgptError } from "../errors.js";
import { readGguf, type GgufFile } from "../gguf/read.js";
import { BpeTokenizer, CP_TO_BYTE } from "./bpe.js";
import { SpecialTokenSplitter, TEXT } from "./special.js";
import { SpmTokenizer } from "./spm.js";
import { codepointsOfBytes, stringOfCodepoints } from "./unicode.js";
import { TokenAttr, loadVocab, type SpecialTokenIds, type Vocab, type VocabType } from "./vocab.js";

export interface EncodeOptions {
  /** Add BOS/EOS where the vocabulary asks for them (add_bos_token, add_eos_token). Default true. */
  addSpecial?: boolean;
  /** Turn the text of control tokens (e.g. "<|im_end|>") into those tokens. Default false. User-defined tokens are always split out. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Render control and unknown tokens as their text (otherwise they decode to nothing). Default false. */
  special?: boolean;
  /**
   * Apply clean_up_tokenization_spaces (" ." -> ".", " 's" -> "'s", ...)
   * where the vocabulary asks for it, as llama_detokenize does. Default: the
   * vocabulary's setting (on for most GPT-2-style BPE, off for SPM, SmolLM,
   * Qwen2, DeepSeek).
   */
  cleanSpaces?: boolean;
}

export interface Tokenizer {
  /** tokenizer.ggml.model: "llama" (SPM) or "gpt2" (byte-level BPE). */
  readonly model: string;
  readonly type: VocabType;
  /** BPE pre-tokenizer name as stored in tokenizer.ggml.pre ("default" when absent); "" for SPM. */
  readonly pre: string;
  readonly vocabSize: number;
  /** Special token ids (null where the vocabulary has none). */
  readonly special: Readonly<Record<keyof SpecialTokenIds, number | null>>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  /** The newline token llama.cpp reports (llama_vocab_nl): <0x0A> for SPM, the first token of "\n" for BPE. */
  readonly newline: number | null;
  /**
   * Token ids of text, as llama.cpp's llama_tokenize(add_special, parse_special).
   * A string is tokenized as its UTF-8 (lone surrogates become U+FFFD, as
   * they do on their way into llama.cpp); bytes are taken as they are.
   */
  encode(text: string | Uint8Array, options?: EncodeOptions): number[];
  /** Text of token ids, as llama_detokenize(remove_special = false, unparse_special = special). */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** The bytes decode would turn into a string (tokens need not end on a UTF-8 boundary). */
  decodeBytes(ids: ArrayLike<number>, options?: DecodeOptions): Uint8Array;
  /** The bytes one token stands for (llama_token_to_piece). */
  tokenPiece(id: number, special?: boolean): Uint8Array;
  /** The token's string in the vocabulary. */
  tokenText(id: number): string;
  /** TokenAttr bits of a token (control, user-defined, byte, ...). */
  tokenAttributes(id: number): number;
  /** Whether the token ends generation (EOS, EOT, <|im_end|>, ...). */
  isEndOfGeneration(id: number): boolean;
}

/** Loads the tokenizer of a GGUF file (a path, or a file already read with readGguf). */
export function loadTokenizer(source: string | GgufFile): Tokenizer {
  const file = typeof source === "string" ? readGguf(source) : source;
  return new GgufTokenizer(loadVocab(file));
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

class GgufTokenizer implements Tokenizer {
  readonly model: string;
  readonly type: VocabType;
  readonly pre: string;
  readonly vocabSize: number;
  readonly special: Readonly<Record<keyof SpecialTokenIds, number | null>>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;

  private readonly splitter: SpecialTokenSplitter;
  private readonly spm: SpmTokenizer | undefined;
  private readonly bpe: BpeTokenizer | undefined;
  private readonly pieces: (Uint8Array | undefined)[];
  private escaped = new Uint8Array(1024);
  private newlineId: number | null | undefined;

  constructor(private readonly vocab: Vocab) {
    this.model = vocab.model;
    this.type = vocab.type;
    this.pre = vocab.type === "bpe" ? vocab.pre || "default" : "";
    this.vocabSize = vocab.size;
    this.special = Object.freeze(
      Object.fromEntries(Object.entries(vocab.special).map(([k, v]) => [k, v >= 0 ? v : null])) as Record<keyof SpecialTokenIds, number | null>,
    );
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.addSpacePrefix = vocab.addSpacePrefix;
    this.splitter = new SpecialTokenSplitter(vocab);
    if (vocab.type === "spm") this.spm = new SpmTokenizer(vocab);
    else this.bpe = new BpeTokenizer(vocab);
    this.pieces = new Array(vocab.size);
  }

  get newline(): number | null {
    if (this.newlineId === undefined) {
      const pad = this.special.pad;
      if (this.spm) {
        const id = this.vocab.table.find(Uint8Array.of(0x3c, 0x30, 0x78, 0x30, 0x41, 0x3e), 0, 6); // "<0x0A>"
        this.newlineId = id >= 0 ? id : this.vocab.table.find(Uint8Array.of(0x0a), 0, 1);
        if (this.newlineId < 0) this.newlineId = pad;
      } else {
        this.newlineId = this.encode("\n", { addSpecial: false })[0] ?? pad;
      }
    }
    return this.newlineId;
  }

  encode(text: string | Uint8Array, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? true;
    const parseSpecial = options.parseSpecial ?? false;
    const out: number[] = [];
    const { special } = this.vocab;
    if (addSpecial && this.vocab.addBos) out.push(this.required(special.bos, "BOS"));

    if (this.bpe && typeof text === "string" && !this.splitter.hasTokens(parseSpecial)) {
      // Nothing to split out: the string goes to the BPE tokenizer as it is.
      this.bpe.encodeText(text, out);
    } else {
      this.encodeFragments(text, parseSpecial, out);
    }
    if (addSpecial && this.vocab.addEos) out.push(this.required(special.eos, "EOS"));
    return out;
  }

  private encodeFragments(text: string | Uint8Array, parseSpecial: boolean, out: number[]): void {
    const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
    const fragments = this.splitter.split(bytes, parseSpecial);
    if (this.spm) {
      // A text fragment at the start or after a special token gets the space prefix.
      let afterSpecial = true;
      for (const f of fragments) {
        if (f.token !== TEXT) {
          out.push(f.token);
          afterSpecial = true;
          continue;
        }
        const length = this.escape(bytes, f.start, f.end, this.vocab.addSpacePrefix && afterSpecial);
        this.spm.encodeEscaped(this.escaped, length, out);
        afterSpecial = false;
      }
    } else {
      const bpe = this.bpe!;
      for (const f of fragments) {
        if (f.token !== TEXT) out.push(f.token);
        else if (typeof text === "string" && f.start === 0 && f.end === bytes.length) bpe.encodeText(text, out);
        else bpe.encodeText(fragmentString(bytes, f.start, f.end), out);
      }
    }
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    return utf8Decoder.decode(this.decodeBytes(ids, options));
  }

  decodeBytes(ids: ArrayLike<number>, options: DecodeOptions = {}): Uint8Array {
    const special = options.special ?? false;
    const parts: Uint8Array[] = [];
    let total = 0;
    // The space the SPM tokenizer put in front is dropped from the first token
    // (any first token: after a BOS that decodes to nothing, nothing is dropped).
    let dropSpace = this.vocab.addSpacePrefix;
    for (let i = 0; i < ids.length; i++) {
      let piece = this.tokenPiece(ids[i]!, special);
      if (dropSpace && piece.length > 0 && piece[0] === 0x20) piece = piece.subarray(1);
      dropSpace = false;
      parts.push(piece);
      total += piece.length;
    }
    let out: Uint8Array = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    if (options.cleanSpaces ?? this.vocab.cleanSpaces) out = cleanSpaces(out);
    return out;
  }

  tokenPiece(id: number, special = false): Uint8Array {
    this.checkId(id);
    const attr = this.vocab.attrs[id]!;
    if (!special && attr & (TokenAttr.UNKNOWN | TokenAttr.CONTROL)) return EMPTY;
    let piece = this.pieces[id];
    if (!piece) {
      piece = this.renderPiece(id, attr);
      this.pieces[id] = piece;
    }
    return piece;
  }

  tokenText(id: number): string {
    this.checkId(id);
    return utf8Decoder.decode(this.textBytes(id));
  }

  tokenAttributes(id: number): number {
    this.checkId(id);
    return this.vocab.attrs[id]!;
  }

  isEndOfGeneration(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  /** llama_token_to_piece with special = true (the special check is done by the caller). */
  private renderPiece(id: number, attr: number): Uint8Array {
    const text = this.textBytes(id);
    if (attr & (TokenAttr.UNKNOWN | TokenAttr.CONTROL | TokenAttr.USER_DEFINED)) return text;
    if (attr & TokenAttr.NORMAL) return this.type === "spm" ? unescapeSpaces(text) : decodeByteLevelText(text);
    if (attr & TokenAttr.BYTE) return Uint8Array.of(parseInt(Buffer.from(text.subarray(3, 5)).toString("latin1"), 16) || 0);
    return EMPTY;
  }

  private textBytes(id: number): Uint8Array {
    return this.vocab.bytes.subarray(this.vocab.offsets[id]!, this.vocab.offsets[id + 1]!);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocab.size) {
      throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocab.size - 1})`);
    }
  }

  private required(id: number, what: string): number {
    if (id < 0) throw new ShortgptError("ERR_TOKENIZER_VOCAB", `the vocabulary asks for a ${what} token but has none (llama.cpp aborts here)`);
    return id;
  }

  /** Writes [prefix space] + bytes[start, end) with spaces as U+2581 into this.escaped; returns the length. */
  private escape(bytes: Uint8Array, start: number, end: number, prefix: boolean): number {
    const worst = (end - start + 1) * 3;
    if (this.escaped.length < worst) this.escaped = new Uint8Array(worst * 2);
    const out = this.escaped;
    let n = 0;
    if (prefix) {
      out[0] = 0xe2;
      out[1] = 0x96;
      out[2] = 0x81;
      n = 3;
    }
    for (let i = start; i < end; i++) {
      const b = bytes[i]!;
      if (b === 0x20) {
        out[n] = 0xe2;
        out[n + 1] = 0x96;
        out[n + 2] = 0x81;
        n += 3;
      } else {
        out[n++] = b;
      }
    }
    return n;
  }
}

const EMPTY = new Uint8Array(0);

/** A text fragment as a string; bytes that are not UTF-8 are decoded the way llama.cpp decodes them. */
function fragmentString(bytes: Uint8Array, start: number, end: number): string {
  const view = bytes.subarray(start, end);
  if (isUtf8(view)) return Buffer.from(view.buffer, view.byteOffset, view.length).toString("utf8");
  const cps = codepointsOfBytes(bytes, start, end);
  return stringOfCodepoints(cps, 0, cps.length);
}

/** SPM piece: U+2581 back to spaces. */
function unescapeSpaces(text: Uint8Array): Uint8Array {
  let count = 0;
  for (let i = 0; i + 2 < text.length; i++) if (text[i] === 0xe2 && text[i + 1] === 0x96 && text[i + 2] === 0x81) count++;
  if (count === 0) return text;
  const out = new Uint8Array(text.length - 2 * count);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (i + 2 < text.length && text[i] === 0xe2 && text[i + 1] === 0x96 && text[i + 2] === 0x81) {
      out[n++] = 0x20;
      i += 2;
    } else {
      out[n++] = text[i]!;
    }
  }
  return out;
}

/**
 * BPE piece: GPT-2 byte characters back to bytes. A character outside the
 * byte encoding is written as llama.cpp writes it: "[UNK_BYTE_0x<utf-8 hex>" + the token text + "]".
 */
function decodeByteLevelText(text: Uint8Array): Uint8Array {
  const s = utf8Decoder.decode(text);
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const b = cp < CP_TO_BYTE.length ? CP_TO_BYTE[cp]! : -1;
    if (b >= 0) {
      out.push(b);
    } else {
      const hex = Array.from(Buffer.from(ch, "utf8"), (x) => x.toString(16).padStart(2, "0")).join("");
      out.push(...Buffer.from(`[UNK_BYTE_0x${hex}`, "latin1"), ...text, 0x5d);
    }
  }
  return Uint8Array.from(out);
}

/** clean_up_tokenization_spaces, byte for byte as llama_detokenize does it (three passes). */
function cleanSpaces(text: Uint8Array): Uint8Array {
  const t = Array.from(text);
  const SP = 0x20;
  const Q = 0x27;
  // " ?", " !", " .", " ," lose the space
  let total = t.length ? 1 : 0;
  for (let i = 1, n = t.length; i < n; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    t[total++] = x;
  }
  t.length = total;
  // " ' " loses both spaces
  total = t.length ? 1 : 0;
  for (let i = 1, n = t.length; i < n; i++) {
    const x = t[i]!;
    if (x === Q && i + 1 < n && t[i - 1] === SP && t[i + 1] === SP) {
      total--;
      t[++i] = 0;
    }
    t[total++] = x;
  }
  t.length = total;
  // " 's", " 'm", " 're", " 've" lose the space
  total = t.length ? 1 : 0;
  for (let i = 1, n = t.length; i < n; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && x === Q && i + 1 < n) {
      const x1 = t[i + 1];
      if (x1 === 0x73 || x1 === 0x6d) total--;
      else if (i + 2 < n && ((x1 === 0x72 && t[i + 2] === 0x65) || (x1 === 0x76 && t[i + 2] === 0x65))) total--;
    }
    t[total++] = x;
  }
  t.length = total;
  return Uint8Array.from(t);
}
