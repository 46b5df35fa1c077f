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
  /**
   * Quick filter on where a special token can start, by mode (0: user-defined
   * only; 1: all): bit 0 of starts[b] = a one-byte token is b; bit 1 = some
   * token starts with b; pairs[b0 << 8 | b1] = some token starts with b0 b1.
   */
  private readonly starts: [Uint8Array, Uint8Array] = [new Uint8Array(256), new Uint8Array(256)];
  private readonly pairs: [Uint8Array, Uint8Array] = [new Uint8Array(65536), new Uint8Array(65536)];
  private readonly always: Set<number> = new Set();

  constructor(private readonly vocab: Vocab) {
    const { bytes, offsets, attrs } = vocab;
    vocab.specialTokens.forEach((id, order) => {
      const start = offsets[id]!;
      const end = offsets[id + 1]!;
      if (end === start) return;
      this.rank.set(id, order);
      const parsedOnly = (attrs[id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) !== 0;
      if (!parsedOnly) this.always.add(id);
      for (const mode of parsedOnly ? [1] : [0, 1]) {
        this.starts[mode]![bytes[start]!]! |= end - start === 1 ? 3 : 2;
        if (end - start > 1) this.pairs[mode]![(bytes[start]! << 8) | bytes[start + 1]!] = 1;
      }
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
    const starts = this.starts[parseSpecial ? 1 : 0];
    const pairs = this.pairs[parseSpecial ? 1 : 0];
    const vocab = this.vocab;

    // Every occurrence of every eligible special token, grouped by the
    // token's rank; positions come out ascending within a group.
    const byRank = new Map<number, number[]>();
    for (let p = 0; p < n; p++) {
      const s = starts[text[p]!]!;
      if (s === 0 || (s === 2 && (p + 1 >= n || pairs[(text[p]! << 8) | text[p + 1]!] === 0))) continue;
      let node: TrieNode | undefined = this.root;
      for (let q = p; q < n; q++) {
        node = node.children.get(text[q]!);
        if (!node) break;
        const token = node.token;
        if (token < 0 || !(parseSpecial || this.always.has(token))) continue;
        const rank = this.rank.get(token)!;
        const list = byRank.get(rank);
        if (list) list.push(p);
        else byRank.set(rank, [p]);
      }
    }
    if (byRank.size === 0) return [{ token: TEXT, start: 0, end: n }];

    // Accept occurrences in llama.cpp's order. owner: 0 raw, 1 start of an
    // accepted token, 2 rest of one, 3 white space stripped next to one.
    const owner = new Uint8Array(n);
    const tokenAt = new Map<number, number>();
    for (const rank of [...byRank.keys()].sort((a, b) => a - b)) {
      const token = this.vocab.specialTokens[rank]!;
      const length = vocab.offsets[token + 1]! - vocab.offsets[token]!;
      const attr = vocab.attrs[token]!;
      for (const start of byRank.get(rank)!) {
        const end = start + length;
        let free = true;
        for (let i = start; i < end && free; i++) free = owner[i] === 0;
        if (!free) continue;
        owner.fill(2, start, end);
        owner[start] = 1;
        tokenAt.set(start, token);
        if (attr & TokenAttr.LSTRIP) for (let i = start - 1; i >= 0 && owner[i] === 0 && isAsciiSpace(text[i]!); i--) owner[i] = 3;
        if (attr & TokenAttr.RSTRIP) for (let i = end; i < n && owner[i] === 0 && isAsciiSpace(text[i]!); i++) owner[i] = 3;
      }
    }

    // Raw runs become text fragments (stripped space only ever sits next to a token, so it never splits a run).
    const fragments: Fragment[] = [];
    let runStart = -1;
    for (let i = 0; i < n; i++) {
      const o = owner[i]!;
      if (o === 0) {
        if (runStart < 0) runStart = i;
        continue;
      }
      if (runStart >= 0) {
        fragments.push({ token: TEXT, start: runStart, end: i });
        runStart = -1;
      }
      if (o === 1) {
        const token = tokenAt.get(i)!;
        fragments.push({ token, start: i, end: i + vocab.offsets[token + 1]! - vocab.offsets[token]! });
      }
    }
    if (runStart >= 0) fragments.push({ token: TEXT, start: runStart, end: n });
    return fragments;
  }
}
