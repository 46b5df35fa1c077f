/**
 * Byte-level BPE (tokenizer.ggml.model = gpt2), as llama.cpp runs it
 * (llm_tokenizer_bpe_session): the pre-tokenizer cuts text into words; each
 * word's UTF-8 bytes are the initial symbols; the adjacent pair with the
 * lowest merge rank is merged first (ties: leftmost), through a priority
 * queue over a linked list of symbols; each final symbol is looked up as a
 * token, and one that is not a token falls back to its single bytes.
 *
 * The vocabulary and merges are stored in GPT-2's byte-to-character encoding
 * (byte 0x20 is "Ġ", ...). That encoding is a bijection on bytes, so we undo
 * it once at load time and work on raw bytes: merges become pairs of piece
 * ids, and nothing is encoded per word. Words repeat, so results are cached.
 *
 * A giant word (text without spaces or punctuation: 100 MB of it once needed
 * gigabytes of merge state) is merged in chunks, exactly: a segmentation is
 * what the whole-word merge loop gives if and only if every adjacent pair of
 * its pieces is "compatible" (merging the two pieces' bytes alone gives those
 * two pieces back). Within a chunk every pair is compatible, so only the
 * pair at each cut is checked; where it is not, the cut moves back one piece
 * and the chunk is merged again (see encodeLongWord for why this is exact).
 */
import { MergeQueue } from "./heap.js";
import { Segments, SplitText, type Splitter } from "./split.js";
import { ByteStringTable } from "./token-table.js";
import { codepointsOfString, encodeCodepoint } from "./unicode.js";
import type { Vocab } from "./vocab.js";
import { WordCache, hashUnits } from "./word-cache.js";

/** GPT-2's byte -> code point map: printable Latin-1 bytes stand for themselves, the rest move to U+0100.. */
export function byteToCodepoint(): Uint32Array {
  const map = new Uint32Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map[b] = printable ? b : next++;
  }
  return map;
}

const BYTE_TO_CP = byteToCodepoint();
/** Code point -> byte (-1: not a byte character); the encoding uses code points below U+0144. */
export const CP_TO_BYTE: Int16Array = (() => {
  const map = new Int16Array(0x144).fill(-1);
  BYTE_TO_CP.forEach((cp, b) => (map[cp] = b));
  return map;
})();

/** Raw bytes of a byte-encoded string, or undefined if it has a character outside the encoding. */
function decodeByteLevel(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < 0x144 ? CP_TO_BYTE[c]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

/** Merge rules over piece ids: (left, right) -> (rank, merged piece). */
class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  readonly rank: Int32Array;
  readonly merged: Int32Array;
  private readonly mask: number;

  constructor(capacity: number) {
    let size = 16;
    while (size < capacity * 2) size *= 2;
    this.left = new Int32Array(size).fill(-1);
    this.right = new Int32Array(size);
    this.rank = new Int32Array(size);
    this.merged = new Int32Array(size);
    this.mask = size - 1;
  }

  private slot(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ b;
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    return h & this.mask;
  }

  /** Adds a rule unless the pair already has one (the first rank wins, as in llama.cpp). */
  add(a: number, b: number, rank: number, merged: number): void {
    let s = this.slot(a, b);
    while (this.left[s] !== -1) {
      if (this.left[s] === a && this.right[s] === b) return;
      s = (s + 1) & this.mask;
    }
    this.left[s] = a;
    this.right[s] = b;
    this.rank[s] = rank;
    this.merged[s] = merged;
  }

  /** Slot of the rule for (a, b), or -1. */
  find(a: number, b: number): number {
    let s = this.slot(a, b);
    for (;;) {
      const l = this.left[s]!;
      if (l === -1) return -1;
      if (l === a && this.right[s] === b) return s;
      s = (s + 1) & this.mask;
    }
  }
}

export class BpeTokenizer {
  /** Piece id -> token id (-1: the piece is not a token). Pieces 0..255 are the single bytes. */
  private readonly pieceToken: Int32Array;
  private readonly pairs: PairTable;
  /** Raw byte strings of the tokens that survive byte-level decoding -> token id. */
  private readonly rawTokens: ByteStringTable;
  /** For each byte: the tokens its encoded character's UTF-8 bytes are, one by one (llama.cpp's last resort). */
  private readonly byteFallback: number[][];
  private readonly splitters: readonly Splitter[];
  private readonly ignoreMerges: boolean;
  private readonly cache = new WordCache();

  // Scratch space, grown as needed.
  private cps: Uint32Array = new Uint32Array(1024);
  private wordBytes = new Uint8Array(256);
  /** The merge state of a word or chunk, and a small one for the compatibility checks. */
  private readonly main = new MergeState();
  private readonly probe = new MergeState();
  private segA = new Segments();
  private segB = new Segments();

  constructor(vocab: Vocab) {
    if (!vocab.merges || !vocab.preTokenizer) throw new Error("BpeTokenizer needs a gpt2 vocabulary");
    this.splitters = vocab.preTokenizer.splitters;
    this.ignoreMerges = vocab.ignoreMerges;

    // Tokens in raw bytes.
    const rawParts: Uint8Array[] = [];
    const rawOffsets = new Int32Array(vocab.size + 1);
    let total = 0;
    const decoder = new TextDecoder("utf-8", { fatal: false });
    for (let id = 0; id < vocab.size; id++) {
      const raw = decodeByteLevel(decoder.decode(vocab.bytes.subarray(vocab.offsets[id]!, vocab.offsets[id + 1]!)));
      rawOffsets[id] = total;
      if (raw) {
        rawParts.push(raw);
        total += raw.length;
      } else {
        rawParts.push(new Uint8Array(0));
      }
    }
    rawOffsets[vocab.size] = total;
    const rawBytes = new Uint8Array(total);
    rawParts.forEach((p, id) => rawBytes.set(p, rawOffsets[id]!));
    this.rawTokens = new ByteStringTable(rawBytes, rawOffsets, (id) => rawOffsets[id + 1]! > rawOffsets[id]!);

    // Pieces: every string a merge can produce or consume, by its encoded text.
    const pieceIds = new Map<string, number>();
    const pieceRaw: Uint8Array[] = [];
    for (let b = 0; b < 256; b++) {
      pieceIds.set(String.fromCodePoint(BYTE_TO_CP[b]!), b);
      pieceRaw.push(Uint8Array.of(b));
    }
    const pieceOf = (text: string): number => {
      let id = pieceIds.get(text);
      if (id === undefined) {
        const raw = decodeByteLevel(text);
        if (!raw) return -1;
        id = pieceRaw.length;
        pieceIds.set(text, id);
        pieceRaw.push(raw);
      }
      return id;
    };
    const merges = vocab.merges;
    this.pairs = new PairTable(merges.length);
    for (let rank = 0; rank < merges.length; rank++) {
      const line = merges.get(rank);
      const space = line.indexOf(" ", 1);
      if (space < 0) continue;
      const a = pieceOf(line.slice(0, space));
      const b = pieceOf(line.slice(space + 1));
      // A merge with a character outside the byte encoding can never apply.
      if (a < 0 || b < 0) continue;
      this.pairs.add(a, b, rank, pieceOf(line.slice(0, space) + line.slice(space + 1)));
    }
    this.pieceToken = new Int32Array(pieceRaw.length);
    pieceRaw.forEach((raw, id) => (this.pieceToken[id] = this.rawTokens.find(raw, 0, raw.length)));

    // Last resort for a symbol that is not a token: each byte of its encoded
    // text, looked up as a one-byte token.
    const singleByte = new Int32Array(256).fill(-1);
    for (let id = 0; id < vocab.size; id++) {
      if (vocab.offsets[id + 1]! - vocab.offsets[id]! === 1) singleByte[vocab.bytes[vocab.offsets[id]!]!] = id;
    }
    const enc = new Uint8Array(4);
    this.byteFallback = Array.from(BYTE_TO_CP, (cp) => {
      const n = encodeCodepoint(cp, enc, 0);
      const ids: number[] = [];
      for (let i = 0; i < n; i++) if (singleByte[enc[i]!]! >= 0) ids.push(singleByte[enc[i]!]!);
      return ids;
    });
  }

  /** Tokenizes one raw-text fragment (no special tokens in it), appending to out. */
  encodeText(text: string, out: number[]): void {
    const { cps, count } = codepointsOfString(text, this.cps);
    this.cps = cps;
    if (count === 0) return;

    // Pre-tokenize: segments in code points.
    let segs = this.segA;
    let spare = this.segB;
    segs.reset();
    segs.push(count);
    const view = new SplitText(cps, count);
    for (const split of this.splitters) {
      spare.reset();
      split(view, segs, spare);
      [segs, spare] = [spare, segs];
    }

    const cache = this.cache;
    let at = 0;
    for (let s = 0; s < segs.count; s++) {
      const end = at + segs.data[s]!;
      const h = hashUnits(cps, at, end);
      if (!cache.lookup(h, cps, at, end, out)) {
        const first = out.length;
        this.encodeWord(cps, at, end, out);
        cache.add(h, cps, at, end, out, first);
      }
      at = end;
    }
  }

  /** Appends the tokens of one word, given as code points [from, to). */
  private encodeWord(cps: Uint32Array, from: number, to: number, out: number[]): void {
    // UTF-8 bytes of the word (sized exactly: a giant word must not cost 8 bytes a character here).
    let n = 0;
    for (let i = from; i < to; i++) {
      const cp = cps[i]!;
      n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    if (this.wordBytes.length < n) this.wordBytes = new Uint8Array(Math.max(n, Math.min(2 * this.wordBytes.length, 1 << 20)));
    const bytes = this.wordBytes;
    let at = 0;
    for (let i = from; i < to; i++) at = encodeCodepoint(cps[i]!, bytes, at);

    if (this.ignoreMerges) {
      const whole = this.rawTokens.find(bytes, 0, n);
      if (whole >= 0) {
        out.push(whole);
        return;
      }
    }
    if (n <= LONG_WORD_BYTES) {
      this.merge(this.main, bytes, 0, n);
      for (let i = 0; i >= 0; i = this.main.next[i]!) this.emit(this.main, bytes, 0, n, i, out);
      return;
    }
    this.encodeLongWord(bytes, n, out);
  }

  /**
   * A word of more than LONG_WORD_BYTES bytes, merged chunk by chunk with the
   * same result as the whole-word merge loop.
   *
   * Why this is exact: call two adjacent pieces x, y compatible when merging
   * the bytes of x and y alone ends in x, y. The merge loop always takes the
   * pair with the smallest (rank, position) and a pair's rank depends only on
   * its two pieces, so (1) every adjacent pair in the loop's result is
   * compatible (whether the two can merge is decided by merges inside them:
   * others only wait), and (2) a segmentation into such pieces whose adjacent
   * pairs are all compatible is the loop's result (the first merge across a
   * boundary in the whole-word loop would also happen in that pair's own
   * loop, which runs the same merges inside the two pieces in the same
   * order). Each chunk's result is compatible inside; at a cut the last
   * piece kept and the chunk's first piece are checked, and when they are
   * not compatible the last piece is taken back and the chunk merged again
   * from its start. Pieces taken back too far (beyond the kept history) make
   * the word go through the whole-word loop instead.
   */
  private encodeLongWord(bytes: Uint8Array, n: number, out: number[]): void {
    const outStart = out.length;
    const kept = this.kept;
    kept.clear();
    let dropped = false;
    let s = 0;
    while (s < n) {
      const e = Math.min(n, s + LONG_WORD_BYTES);
      const st = this.main;
      this.merge(st, bytes, s, e);
      if (kept.size > 0) {
        const xStart = kept.start[kept.size - 1]!;
        const yEnd = st.next[0]! >= 0 ? s + st.next[0]! : e;
        if (!this.compatible(bytes, xStart, s, yEnd)) {
          out.length = kept.outLength[kept.size - 1]!;
          kept.size--;
          s = xStart;
          if (kept.size === 0 && dropped) {
            // The history needed to keep checking is gone: merge the word whole.
            out.length = outStart;
            this.merge(this.main, bytes, 0, n);
            for (let i = 0; i >= 0; i = this.main.next[i]!) this.emit(this.main, bytes, 0, n, i, out);
            return;
          }
          continue;
        }
      }
      for (let i = 0; i >= 0; i = st.next[i]!) {
        if (kept.size === kept.start.length) dropped = kept.dropOldestHalf() || dropped;
        kept.start[kept.size] = s + i;
        kept.outLength[kept.size] = out.length;
        kept.size++;
        this.emit(st, bytes, s, e, i, out);
      }
      s = e;
    }
  }

  /** Whether pieces bytes[xStart, split) and bytes[split, yEnd) stay two pieces when merged alone. */
  private compatible(bytes: Uint8Array, xStart: number, split: number, yEnd: number): boolean {
    const st = this.probe;
    this.merge(st, bytes, xStart, yEnd);
    const second = st.next[0]!;
    return second === split - xStart && st.next[second]! === -1;
  }

  /** Appends the token(s) of the final symbol starting at i (relative to from) of a merge of bytes[from, to). */
  private emit(st: MergeState, bytes: Uint8Array, from: number, to: number, i: number, out: number[]): void {
    const token = this.pieceToken[st.piece[i]!]!;
    if (token >= 0) {
      out.push(token);
      return;
    }
    const end = st.next[i]! >= 0 ? from + st.next[i]! : to;
    for (let j = from + i; j < end; j++) for (const id of this.byteFallback[bytes[j]!]!) out.push(id);
  }

  /**
   * The merge loop over bytes[from, to): afterwards the final symbols are
   * st.piece[i] for i = 0, st.next[0], ... (-1 ends), i being the symbol's
   * first byte relative to `from`.
   */
  private merge(st: MergeState, bytes: Uint8Array, from: number, to: number): void {
    const n = to - from;
    st.ensure(n);
    const { piece, prev, next } = st;
    for (let i = 0; i < n; i++) {
      piece[i] = bytes[from + i]!;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }

    const pairs = this.pairs;
    const queue = st.queue;
    queue.clear();
    const tryPair = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const slot = pairs.find(piece[l]!, piece[r]!);
      if (slot >= 0) queue.push(pairs.rank[slot]!, l, r, piece[l]!, piece[r]!, pairs.merged[slot]!);
    };
    for (let i = 1; i < n; i++) tryPair(i - 1, i);

    while (queue.size > 0) {
      const l = queue.topTie();
      const r = queue.topPayload(0);
      const pl = queue.topPayload(1);
      const pr = queue.topPayload(2);
      const merged = queue.topPayload(3);
      queue.pop();
      // Stale entry: one side was merged away (piece -1) or has grown since it was queued.
      if (piece[l] !== pl || piece[r] !== pr) continue;
      piece[l] = merged;
      piece[r] = -1;
      const after = next[r]!;
      next[l] = after;
      if (after >= 0) prev[after] = l;
      tryPair(prev[l]!, l);
      tryPair(l, after);
    }
  }

  private readonly kept = new KeptPieces();
}

/** Words longer than this are merged in chunks of this size (encodeLongWord). */
const LONG_WORD_BYTES = 1 << 16;

/** Per-symbol state of one merge run: piece ids (-1 once merged away) and the doubly linked list. */
class MergeState {
  piece = new Int32Array(256);
  prev = new Int32Array(256);
  next = new Int32Array(256);
  readonly queue = new MergeQueue();

  ensure(n: number): void {
    if (this.piece.length >= n) return;
    const size = Math.max(n, this.piece.length * 2);
    this.piece = new Int32Array(size);
    this.prev = new Int32Array(size);
    this.next = new Int32Array(size);
  }
}

/**
 * The pieces of a long word already emitted, newest last: where each starts
 * and how long `out` was before its tokens, so a piece can be taken back.
 * Bounded: the oldest half is forgotten when full.
 */
class KeptPieces {
  start = new Int32Array(1 << 16);
  outLength = new Int32Array(1 << 16);
  size = 0;

  clear(): void {
    this.size = 0;
  }

  /** Forgets the oldest half; returns true (something was forgotten). */
  dropOldestHalf(): boolean {
    const half = this.size >> 1;
    this.start.copyWithin(0, half, this.size);
    this.outLength.copyWithin(0, half, this.size);
    this.size -= half;
    return true;
  }
}
