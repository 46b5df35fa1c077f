/**
 * Splitting special tokens out of raw text before it is tokenized, with
 * llama.cpp's precedence (tokenizer_st_partition): special tokens are taken
 * one at a time, longest text first; each one is cut out of every stretch of
 * text still raw, left to right, without overlapping itself. User-defined
 * tokens are always cut out; control and unknown tokens only when special
 * tokens are parsed. LSTRIP/RSTRIP tokens also swallow adjacent ASCII white
 * space.
 *
 * Instead of rescanning the text once per special token (llama.cpp does, at
 * a cost of tokens x text), one pass over a byte trie finds every occurrence
 * of every special token; the occurrences are then accepted in llama.cpp's
 * order against a per-byte ownership map, which yields the same fragments.
 */
import { isAsciiSpace } from "./unicode.js";
import { TokenAttr, type Vocab } from "./vocab.js";

/** A piece of the input: raw text bytes [start, end), or one special token. */
export type Fragment = { readonly token: number; readonly start: number; readonly end: number };
/** token = -1 marks a text fragment. */
export const TEXT = -1;

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Token whose text ends here, or -1. */
  token: number;
}

export class SpecialTokenSplitter {
  private readonly root: TrieNode = { children: new Map(), token: -1 };
  /** Position of each special token in llama.cpp's processing order. */
  private readonly rank: Map<number, number> = new Map();
  /** Bytes that start some special token, by mode (0: user-defined only; 1: all). */
  private readonly firstBytes: [Uint8Array, Uint8Array] = [new Uint8Array(256), new Uint8Array(256)];
  private readonly always: Set<number> = new Set();

  constructor(private readonly vocab: Vocab) {
    const { bytes, offsets, attrs } = vocab;
    vocab.specialTokens.forEach((id, order) => {
      const start = offsets[id]!;
      const end = offsets[id + 1]!;
      if (end === start) return;
      this.rank.set(id, order);
      const parsedOnly = (attrs[id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) !== 0;
      if (!parsedOnly) {
        this.always.add(id);
        this.firstBytes[0][bytes[start]!] = 1;
      }
      this.firstBytes[1][bytes[start]!] = 1;
      let node = this.root;
      for (let i = start; i < end; i++) {
        let next = node.children.get(bytes[i]!);
        if (!next) {
          next = { children: new Map(), token: -1 };
          node.children.set(bytes[i]!, next);
        }
        node = next;
      }
      node.token = id;
    });
  }

  /** Whether any special token can be split out in this mode. */
  hasTokens(parseSpecial: boolean): boolean {
    return parseSpecial ? this.rank.size > 0 : this.always.size > 0;
  }

  /** Splits text into raw text and special token fragments, in order. */
  split(text: Uint8Array, parseSpecial: boolean): Fragment[] {
    const n = text.length;
    if (n === 0) return [];
    const first = this.firstBytes[parseSpecial ? 1 : 0];
    const vocab = this.vocab;

    // Every occurrence of every eligible special token: (rank, position, token).
    const found: number[] = [];
    for (let p = 0; p < n; p++) {
      if (!first[text[p]!]) continue;
      let node: TrieNode | undefined = this.root;
      for (let q = p; q < n; q++) {
        node = node.children.get(text[q]!);
        if (!node) break;
        if (node.token >= 0 && (parseSpecial || this.always.has(node.token))) found.push(this.rank.get(node.token)!, p, node.token);
      }
    }
    if (found.length === 0) return [{ token: TEXT, start: 0, end: n }];

    const order = Array.from({ length: found.length / 3 }, (_, i) => i);
    order.sort((a, b) => found[a * 3]! - found[b * 3]! || found[a * 3 + 1]! - found[b * 3 + 1]!);

    // 0: raw, 1: inside an accepted special token, 2: white space stripped next to one.
    const owner = new Uint8Array(n);
    const accepted: [number, number][] = [];
    for (const k of order) {
      const start = found[k * 3 + 1]!;
      const token = found[k * 3 + 2]!;
      const end = start + (vocab.offsets[token + 1]! - vocab.offsets[token]!);
      let free = true;
      for (let i = start; i < end && free; i++) free = owner[i] === 0;
      if (!free) continue;
      owner.fill(1, start, end);
      accepted.push([start, token]);
      const attr = vocab.attrs[token]!;
      if (attr & TokenAttr.LSTRIP) for (let i = start - 1; i >= 0 && owner[i] === 0 && isAsciiSpace(text[i]!); i--) owner[i] = 2;
      if (attr & TokenAttr.RSTRIP) for (let i = end; i < n && owner[i] === 0 && isAsciiSpace(text[i]!); i++) owner[i] = 2;
    }
    accepted.sort((a, b) => a[0] - b[0]);

    // Between two special tokens there is at most one raw stretch (stripped
    // space only ever touches a token).
    const fragments: Fragment[] = [];
    const rawBetween = (from: number, to: number) => {
      let a = from;
      while (a < to && owner[a] !== 0) a++;
      let b = a;
      while (b < to && owner[b] === 0) b++;
      if (b > a) fragments.push({ token: TEXT, start: a, end: b });
    };
    let pos = 0;
    for (const [start, token] of accepted) {
      rawBetween(pos, start);
      const end = start + (vocab.offsets[token + 1]! - vocab.offsets[token]!);
      fragments.push({ token, start, end });
      pos = end;
    }
    rawBetween(pos, n);
    return fragments;
  }
}
