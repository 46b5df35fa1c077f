/**
 * Code point classes as llama.cpp's pre-tokenizers see them: the general
 * category (major class) from Unicode 15.1 and the White_Space property, one
 * byte per code point. llama.cpp uses its own Unicode 15.1 tables, not the
 * host regex engine's, so we do the same (the JS engine's \p{...} follows a
 * newer Unicode and would classify recently added characters differently).
 */
import { CATEGORY_RANGES, WHITE_SPACE } from "./unicode-data.js";

/** Low 3 bits of a flags byte: the major general category. */
export const CATEGORY_MASK = 0x07;
export const CAT_UNASSIGNED = 0;
export const CAT_NUMBER = 1;
export const CAT_LETTER = 2;
export const CAT_SEPARATOR = 3;
export const CAT_MARK = 4;
export const CAT_PUNCTUATION = 5;
export const CAT_SYMBOL = 6;
export const CAT_CONTROL = 7;
/** Bit 3: White_Space. */
export const FLAG_WHITESPACE = 0x08;

export const MAX_CODEPOINT = 0x10ffff;
export const REPLACEMENT_CHARACTER = 0xfffd;

let flagsTable: Uint8Array | undefined;

/**
 * Flags of every code point 0..U+10FFFF (category | FLAG_WHITESPACE), built
 * on first use from the generated ranges: 1.1 MB, about a millisecond.
 */
export function codepointFlags(): Uint8Array {
  if (flagsTable) return flagsTable;
  const table = new Uint8Array(MAX_CODEPOINT + 1);
  let start = 0;
  for (let i = 0; i < CATEGORY_RANGES.length; i += 2) {
    start += CATEGORY_RANGES[i]!;
    const next = i + 2 < CATEGORY_RANGES.length ? start + CATEGORY_RANGES[i + 2]! : table.length;
    table.fill(CATEGORY_RANGES[i + 1]!, start, next);
  }
  for (const cp of WHITE_SPACE) table[cp]! |= FLAG_WHITESPACE;
  flagsTable = table;
  return table;
}

/** Number of UTF-8 bytes a lead byte announces, as llama.cpp counts them (by its high nibble only). */
export function utf8SequenceLength(lead: number): number {
  const high = lead >> 4;
  return high < 0xc ? 1 : high < 0xe ? 2 : high === 0xe ? 3 : 4;
}

/** Appends the UTF-8 encoding of one code point (no validation: surrogates encode as 3 bytes). */
export function encodeCodepoint(cp: number, out: Uint8Array, at: number): number {
  if (cp < 0x80) {
    out[at] = cp;
    return at + 1;
  }
  if (cp < 0x800) {
    out[at] = 0xc0 | (cp >> 6);
    out[at + 1] = 0x80 | (cp & 0x3f);
    return at + 2;
  }
  if (cp < 0x10000) {
    out[at] = 0xe0 | (cp >> 12);
    out[at + 1] = 0x80 | ((cp >> 6) & 0x3f);
    out[at + 2] = 0x80 | (cp & 0x3f);
    return at + 3;
  }
  out[at] = 0xf0 | (cp >> 18);
  out[at + 1] = 0x80 | ((cp >> 12) & 0x3f);
  out[at + 2] = 0x80 | ((cp >> 6) & 0x3f);
  out[at + 3] = 0x80 | (cp & 0x3f);
  return at + 4;
}

/** Code points of a JS string. Lone surrogates become U+FFFD, as they do on their way into llama.cpp (UTF-8 conversion). */
export function codepointsOfString(text: string, into?: Uint32Array): { cps: Uint32Array; count: number; astral: boolean } {
  const n = text.length;
  const cps = into && into.length >= n ? into : new Uint32Array(Math.max(n, 16));
  let count = 0;
  let astral = false;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        astral = true;
      } else {
        c = REPLACEMENT_CHARACTER;
      }
    }
    cps[count++] = c;
  }
  return { cps, count, astral };
}

/**
 * Code points of bytes that may not be valid UTF-8, decoded the way llama.cpp
 * does (unicode_cpts_from_utf8): the structure of each sequence is checked,
 * not overlong forms or surrogates; a byte that does not start a complete
 * sequence becomes one U+FFFD and decoding resumes at the next byte.
 * Where we differ: sequences that encode a UTF-16 surrogate or a value above
 * U+10FFFF (llama.cpp keeps the first, fails on the second) become U+FFFD,
 * so that a JS string can hold the result.
 */
export function codepointsOfBytes(bytes: Uint8Array, start: number, end: number): Uint32Array {
  const out = new Uint32Array(end - start);
  let n = 0;
  let i = start;
  const cont = (k: number) => k < end && (bytes[k]! & 0xc0) === 0x80;
  while (i < end) {
    const b = bytes[i]!;
    let cp = REPLACEMENT_CHARACTER;
    let len = 1;
    if (b < 0x80) {
      cp = b;
    } else if ((b & 0x40) === 0) {
      // stray continuation byte
    } else if ((b & 0x20) === 0) {
      if (cont(i + 1)) {
        cp = ((b & 0x1f) << 6) | (bytes[i + 1]! & 0x3f);
        len = 2;
      }
    } else if ((b & 0x10) === 0) {
      if (cont(i + 1) && cont(i + 2)) {
        cp = ((b & 0x0f) << 12) | ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f);
        len = 3;
        if (cp >= 0xd800 && cp <= 0xdfff) cp = REPLACEMENT_CHARACTER;
      }
    } else if ((b & 0x08) === 0) {
      if (cont(i + 1) && cont(i + 2) && cont(i + 3)) {
        cp = ((b & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
        len = 4;
        if (cp > MAX_CODEPOINT) cp = REPLACEMENT_CHARACTER;
      }
    }
    out[n++] = cp;
    i += len;
  }
  return out.subarray(0, n);
}

/** A JS string from code points (surrogate code points stay lone surrogates). */
export function stringOfCodepoints(cps: Uint32Array, start: number, end: number): string {
  let s = "";
  const CHUNK = 4096;
  for (let i = start; i < end; i += CHUNK) {
    s += String.fromCodePoint(...cps.subarray(i, Math.min(end, i + CHUNK)));
  }
  return s;
}

/** C isspace() in the "C" locale, on one byte. */
export function isAsciiSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}
