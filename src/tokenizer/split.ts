/**
 * The word splitters behind the BPE pre-tokenizers. A fragment of text is a
 * run of code points; each splitter cuts every current segment into smaller
 * ones (a segment is stored as its length in code points), and the
 * pre-tokenizer of a vocabulary applies several in sequence, as llama.cpp
 * does (unicode_regex_split).
 *
 * Three kinds, matching the three ways llama.cpp splits:
 * - hand-written scanners for the GPT-2, Llama 3 and Qwen2 patterns, which
 *   llama.cpp implements by hand too (with a few deviations from the regex
 *   they stand for; we follow llama.cpp's behaviour, not the regex);
 * - a scanner for `\p{N}` alone (every number code point on its own);
 * - a general regex splitter for the rest, which reproduces llama.cpp's
 *   std::regex path: every code point of 128 and above is replaced by one
 *   stand-in character for its category (\p{L} -> 0xD2, ...) before matching.
 */
import { CATEGORY_MASK, CAT_LETTER, CAT_MARK, CAT_NUMBER, CAT_PUNCTUATION, CAT_SYMBOL, FLAG_WHITESPACE, codepointFlags, stringOfCodepoints } from "./unicode.js";

/** A growable list of segment lengths. */
export class Segments {
  data: Int32Array;
  count = 0;
  constructor(capacity = 64) {
    this.data = new Int32Array(capacity);
  }
  push(length: number): void {
    if (this.count === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.count++] = length;
  }
  reset(): void {
    this.count = 0;
  }
}

/** The code points of one fragment, with views built on demand for regex splitters. */
export class SplitText {
  private collapsedView: string | undefined;
  private wideView: WideView | undefined;

  constructor(
    readonly cps: Uint32Array,
    readonly length: number,
  ) {}

  /** One char per code point: ASCII as is, others replaced by their category's stand-in. */
  collapsed(): string {
    if (this.collapsedView !== undefined) return this.collapsedView;
    const flags = codepointFlags();
    const units = new Uint16Array(this.length);
    for (let i = 0; i < this.length; i++) {
      const cp = this.cps[i]!;
      units[i] = cp < 0x80 ? cp : collapsedUnit(flags[cp]!);
    }
    let s = "";
    for (let i = 0; i < units.length; i += 8192) s += String.fromCharCode(...units.subarray(i, i + 8192));
    this.collapsedView = s;
    return s;
  }

  /**
   * The text itself, with non-ASCII white space replaced by \v (llama.cpp
   * does this because std::wregex's \s knows only ASCII white space). When
   * the text has astral characters, maps between code point and UTF-16 indices.
   */
  wide(): WideView {
    if (this.wideView) return this.wideView;
    const flags = codepointFlags();
    const cps = this.cps.slice(0, this.length);
    let astral = false;
    for (let i = 0; i < cps.length; i++) {
      const cp = cps[i]!;
      if (cp >= 0x80 && flags[cp]! & FLAG_WHITESPACE) cps[i] = 0x0b;
      if (cp > 0xffff) astral = true;
    }
    const text = stringOfCodepoints(cps, 0, cps.length);
    if (!astral) {
      this.wideView = { text };
      return this.wideView;
    }
    const unitOfCp = new Int32Array(cps.length + 1);
    const cpOfUnit = new Int32Array(text.length + 1);
    let u = 0;
    for (let i = 0; i < cps.length; i++) {
      unitOfCp[i] = u;
      cpOfUnit[u] = i;
      if (cps[i]! > 0xffff) cpOfUnit[++u] = i;
      u++;
    }
    unitOfCp[cps.length] = u;
    cpOfUnit[u] = cps.length;
    this.wideView = { text, unitOfCp, cpOfUnit };
    return this.wideView;
  }
}

interface WideView {
  text: string;
  unitOfCp?: Int32Array;
  cpOfUnit?: Int32Array;
}

function collapsedUnit(flags: number): number {
  if (flags & FLAG_WHITESPACE) return 0x0b;
  switch (flags & CATEGORY_MASK) {
    case CAT_NUMBER: return 0xd1;
    case CAT_LETTER: return 0xd2;
    case CAT_PUNCTUATION: return 0xd3;
    case CAT_MARK: return 0xd4;
    case CAT_SYMBOL: return 0xd5;
    default: return 0xd0;
  }
}

export type Splitter = (text: SplitText, input: Segments, output: Segments) => void;

// Flag value for positions outside the segment: not a letter, number or
// space, and distinct from every in-range value (llama.cpp uses 0 there).
const OUT = 0x40;
const isLetter = (f: number) => (f & CATEGORY_MASK) === CAT_LETTER && f !== OUT;
const isNumber = (f: number) => (f & CATEGORY_MASK) === CAT_NUMBER;
const isSpace = (f: number) => (f & FLAG_WHITESPACE) !== 0;
const CR = 0x0d;
const LF = 0x0a;
const APOSTROPHE = 0x27;
const SPACE = 0x20;

/** ASCII lower-casing: enough for the contraction letters s t m d r e v l. */
const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/**
 * The scanner shared by the GPT-2, Llama 3 and Qwen2 patterns:
 *   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 *   llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2:  the llama3 pattern with \p{N} instead of \p{N}{1,3}
 */
function scanner(style: "gpt2" | "llama3" | "qwen2"): Splitter {
  const gpt2 = style === "gpt2";
  const maxDigits = style === "llama3" ? 3 : 1;
  return (text, input, output) => {
    const table = codepointFlags();
    let start = 0;
    for (let s = 0; s < input.count; s++) {
      const end = start + input.data[s]!;
      scanSegment(text.cps, table, start, end, output, gpt2, maxDigits);
      start = end;
    }
  };
}

/** Flags at p, or OUT past the segment's end. */
function flagsAt(cps: Uint32Array, table: Uint8Array, p: number, end: number): number {
  return p < end ? table[cps[p]!]! : OUT;
}

function scanSegment(cps: Uint32Array, table: Uint8Array, begin: number, end: number, output: Segments, gpt2: boolean, maxDigits: number): void {
  let last = begin; // end of the last emitted piece
  let pos = begin;
  while (pos < end) {
    const c = cps[pos]!;
    const f = table[c]!;

    // contractions: 's 't 'm 'd 're 've 'll (case-insensitive except for gpt2)
    if (c === APOSTROPHE && pos + 1 < end) {
      const c1 = gpt2 ? cps[pos + 1]! : lower(cps[pos + 1]!);
      if (c1 === 0x73 || c1 === 0x74 || c1 === 0x6d || c1 === 0x64) {
        pos += 2;
        output.push(pos - last);
        last = pos;
        continue;
      }
      if (pos + 2 < end) {
        const c2 = gpt2 ? cps[pos + 2]! : lower(cps[pos + 2]!);
        if ((c1 === 0x72 && c2 === 0x65) || (c1 === 0x76 && c2 === 0x65) || (c1 === 0x6c && c2 === 0x6c)) {
          pos += 3;
          output.push(pos - last);
          last = pos;
          continue;
        }
      }
    }

    if (gpt2) {
      // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space, then a run of one class
      let f2 = c === SPACE ? flagsAt(cps, table, pos + 1, end) : f;
      if (isLetter(f2)) {
        if (c === SPACE) pos++;
        while (isLetter(f2)) f2 = flagsAt(cps, table, ++pos, end);
        output.push(pos - last);
        last = pos;
        continue;
      }
      if (isNumber(f2)) {
        if (c === SPACE) pos++;
        while (isNumber(f2)) f2 = flagsAt(cps, table, ++pos, end);
        output.push(pos - last);
        last = pos;
        continue;
      }
      if (!isSpace(f2) && !isLetter(f2) && !isNumber(f2) && f2 !== OUT) {
        if (c === SPACE) pos++;
        while (!isSpace(f2) && !isLetter(f2) && !isNumber(f2) && f2 !== OUT) f2 = flagsAt(cps, table, ++pos, end);
        output.push(pos - last);
        last = pos;
        continue;
      }
    } else {
      // `[^\r\n\p{L}\p{N}]?\p{L}+`
      if (!(c === CR || c === LF || isNumber(f)) && (isLetter(f) || isLetter(flagsAt(cps, table, pos + 1, end)))) {
        pos++;
        while (isLetter(flagsAt(cps, table, pos, end))) pos++;
        output.push(pos - last);
        last = pos;
        continue;
      }
      // `\p{N}{1,3}` (llama3) or `\p{N}` (qwen2)
      if (isNumber(f)) {
        let run = pos;
        while (isNumber(flagsAt(cps, table, pos, end))) {
          pos++;
          if (pos - run >= maxDigits) {
            output.push(pos - last);
            last = pos;
            run = pos;
          }
        }
        if (pos > last) output.push(pos - last);
        last = pos;
        continue;
      }
      // ` ?[^\s\p{L}\p{N}]+[\r\n]*` (llama.cpp tests the class on the space's successor
      // but requires only that the current position is inside the segment)
      let f2 = c === SPACE ? flagsAt(cps, table, pos + 1, end) : f;
      if (!isSpace(f2) && !isLetter(f2) && !isNumber(f2)) {
        if (c === SPACE) pos++;
        while (!isSpace(f2) && !isLetter(f2) && !isNumber(f2) && f2 !== OUT) f2 = flagsAt(cps, table, ++pos, end);
        while (pos < end && (cps[pos] === CR || cps[pos] === LF)) pos++;
        output.push(pos - last);
        last = pos;
        continue;
      }
    }

    // white space: `\s*[\r\n]+` (not gpt2), then `\s+(?!\S)`, then `\s+`
    let spaces = 0;
    let afterLastNewline = -1;
    while (isSpace(flagsAt(cps, table, pos + spaces, end))) {
      const c2 = cps[pos + spaces]!;
      if (!gpt2 && (c2 === CR || c2 === LF)) afterLastNewline = pos + spaces + 1;
      spaces++;
    }
    if (afterLastNewline >= 0) pos = afterLastNewline;
    else if (spaces > 1 && pos + spaces < end) pos += spaces - 1; // leave the last space to prefix the next word
    else if (spaces > 0) pos += spaces;
    else pos++; // nothing matched: one code point on its own
    output.push(pos - last);
    last = pos;
  }
}

export const splitGpt2: Splitter = scanner("gpt2");
export const splitLlama3: Splitter = scanner("llama3");
export const splitQwen2: Splitter = scanner("qwen2");

/** `\p{N}`: every number code point becomes its own segment. */
export const splitEachNumber: Splitter = (text, input, output) => {
  const cps = text.cps;
  const table = codepointFlags();
  let start = 0;
  for (let s = 0; s < input.count; s++) {
    const end = start + input.data[s]!;
    let last = start;
    for (let p = start; p < end; p++) {
      if ((table[cps[p]!]! & CATEGORY_MASK) === CAT_NUMBER) {
        if (p > last) output.push(p - last);
        output.push(1);
        last = p + 1;
      }
    }
    if (end > last) output.push(end - last);
    start = end;
  }
};

// Members below 128 of each class, and the stand-in for the rest (see collapsedUnit).
const COLLAPSED_CLASSES: Record<string, string> = {
  N: "\\xD10-9",
  L: "\\xD2A-Za-z",
  Lu: "\\xD2A-Za-z",
  Ll: "\\xD2A-Za-z",
  Lt: "\\xD2A-Za-z",
  Lm: "\\xD2A-Za-z",
  Lo: "\\xD2A-Za-z",
  P: "\\xD3!-#%-*,-/:;?@\\[-\\]_{}",
  M: "\\xD4",
  S: "\\xD5$+<->\\^`|~",
};
// std::regex's \s for char and wchar_t: the six ASCII white-space characters
// (JS's \s also matches U+FEFF and others, which llama.cpp does not).
const SPACE_CLASS = "\\t\\n\\v\\f\\r ";

/**
 * Rewrites a pattern as llama.cpp's std::regex path sees it. With Unicode
 * classes, they become stand-in classes for the collapsed text; without,
 * the pattern runs on the text itself. \s and \S become explicit ASCII
 * classes either way.
 */
export function translatePattern(source: string): { pattern: string; collapsed: boolean } {
  const collapsed = /\\p\{/.test(source);
  if (collapsed && /[^\x00-\x7f]/.test(source)) throw new Error(`pattern mixes Unicode classes and non-ASCII characters: ${source}`);
  let out = "";
  let inside = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (ch === "\\") {
      const next = source[i + 1];
      if (next === "p" && source[i + 2] === "{") {
        const close = source.indexOf("}", i + 3);
        const name = source.slice(i + 3, close);
        const members = COLLAPSED_CLASSES[name];
        if (close < 0 || members === undefined) throw new Error(`unsupported class \\p{${name}} in ${source}`);
        out += inside ? members : `[${members}]`;
        i = close;
        continue;
      }
      if (next === "s") {
        out += inside ? SPACE_CLASS : `[${SPACE_CLASS}]`;
        i++;
        continue;
      }
      if (next === "S") {
        if (inside) throw new Error(`\\S inside a class is not supported: ${source}`);
        out += `[^${SPACE_CLASS}]`;
        i++;
        continue;
      }
      out += ch + (next ?? "");
      i++;
      continue;
    }
    if (ch === "[" && !inside) inside = true;
    else if (ch === "]" && inside) inside = false;
    out += ch;
  }
  return { pattern: out, collapsed };
}

/**
 * A splitter from a pattern: each segment is searched left to right; every
 * match becomes a segment and so does every stretch between matches (what
 * llama.cpp's std::regex_iterator loop does).
 */
export function regexSplitter(source: string): Splitter {
  const { pattern, collapsed } = translatePattern(source);
  const re = new RegExp(pattern, collapsed ? "g" : "gu");
  return (text, input, output) => {
    const view: WideView = collapsed ? { text: text.collapsed() } : text.wide();
    const { unitOfCp, cpOfUnit } = view;
    let cpStart = 0;
    for (let s = 0; s < input.count; s++) {
      const cpLen = input.data[s]!;
      const cpEnd = cpStart + cpLen;
      const unitStart = unitOfCp ? unitOfCp[cpStart]! : cpStart;
      const sub = view.text.slice(unitStart, unitOfCp ? unitOfCp[cpEnd]! : cpEnd);
      const toCp = (u: number) => (cpOfUnit ? cpOfUnit[unitStart + u]! - cpStart : u);
      re.lastIndex = 0;
      let last = 0;
      for (let m = re.exec(sub); m !== null; m = re.exec(sub)) {
        if (m[0].length === 0) {
          re.lastIndex++;
          continue;
        }
        const a = toCp(m.index);
        const b = toCp(m.index + m[0].length);
        if (a > last) output.push(a - last);
        output.push(b - a);
        last = b;
      }
      if (cpLen > last) output.push(cpLen - last);
      cpStart = cpEnd;
    }
  };
}
