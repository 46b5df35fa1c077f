/**
 * SentencePiece-style BPE (tokenizer.ggml.model = llama), as llama.cpp runs
 * it (llm_tokenizer_spm_session): the text, with spaces written as U+2581,
 * starts as one symbol per UTF-8 character; the adjacent pair whose
 * concatenation is the vocabulary token with the highest score is merged
 * first (ties: leftmost), through a priority queue over a linked list of
 * symbols; a final symbol that is not a token becomes byte tokens <0xXX>.
 *
 * SPM has no pre-tokenizer: a whole fragment is one merge problem. But a
 * merge can only ever produce a vocabulary token, so where no token can span
 * a position of the text, no merge crosses it and the two sides tokenize
 * independently. In SentencePiece vocabularies "▁" appears inside tokens
 * only after other "▁"s (a handful of exceptions such as Gemma's ">▁</" are
 * checked one by one), so the text can be cut before every "▁" that follows
 * something else: into words, which repeat and are cached. The result is
 * exactly the whole-fragment result.
 *
 * Symbols are byte ranges of the text; a pair's text is found in the
 * vocabulary through the composable hash (token-table.ts), so a merge never
 * copies or rehashes bytes.
 *
 * A word that is still huge (text without spaces: CJK, a base64 blob) is
 * merged in chunks with the exact compatibility check at each cut that
 * bpe.ts's encodeLongWord explains: the merge loop here has the same shape
 * (the best pair by a key that depends only on its two pieces, ties to the
 * leftmost), so the same argument holds.
 */
import { ShortgptError } from "../errors.js";
import { MergeQueue } from "./heap.js";
import { combineHash, hashBytes, hashPower } from "./token-table.js";
import { utf8SequenceLength } from "./unicode.js";
import type { Vocab } from "./vocab.js";
import { WordCache } from "./word-cache.js";

const POWERS = Int32Array.from({ length: 5 }, (_, n) => hashPower(n));

/** Vocabularies with more tokens that bridge a "▁" than this are tokenized whole-fragment. */
const MAX_BRIDGES = 64;

/** A token with "▁" after another character: where it matches, the text cannot be cut before that "▁". */
interface Bridge {
  readonly id: number;
  /** Byte offsets in the token of each "▁" that follows something other than "▁". */
  readonly at: readonly number[];
}

const isSpaceMark = (b: Uint8Array, i: number) => b[i] === 0xe2 && b[i + 1] === 0x96 && b[i + 2] === 0x81;

export class SpmTokenizer {
  /** Byte -> its byte token (<0xXX>, else the one-byte token), -1 if neither exists. */
  private readonly byteToken: Int32Array;
  /** Tokens that bridge a "▁"; undefined when there are too many to cut text into words. */
  private readonly bridges: readonly Bridge[] | undefined;
  private readonly cache = new WordCache();

  /** The merge state of a word or chunk, and a small one for the compatibility checks. */
  private readonly main = new SpmMergeState();
  private readonly probe = new SpmMergeState();
  /** Pieces of a long word already emitted: where each starts and how long `out` was before it. */
  private keptStart = new Int32Array(1 << 16);
  private keptOut = new Int32Array(1 << 16);

  constructor(private readonly vocab: Vocab) {
    const enc = new TextEncoder();
    this.byteToken = Int32Array.from({ length: 256 }, (_, b) => {
      const hex = enc.encode(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      const id = vocab.table.find(hex, 0, hex.length);
      return id >= 0 ? id : vocab.table.find(Uint8Array.of(b), 0, 1);
    });

    const bridges: Bridge[] = [];
    for (let id = 0; id < vocab.size && bridges.length <= MAX_BRIDGES; id++) {
      const t = vocab.bytes.subarray(vocab.offsets[id]!, vocab.offsets[id + 1]!);
      const at: number[] = [];
      for (let j = 1; j + 2 < t.length; j++) if (isSpaceMark(t, j) && !(j >= 3 && isSpaceMark(t, j - 3))) at.push(j);
      if (at.length > 0) bridges.push({ id, at });
    }
    this.bridges = bridges.length <= MAX_BRIDGES ? bridges : undefined;
  }

  /** Tokenizes text[0, length) (already escaped: spaces as U+2581), appending to out. */
  encodeEscaped(text: Uint8Array, length: number, out: number[]): void {
    if (!this.bridges) {
      this.encodeRange(text, 0, length, out);
      return;
    }
    // Cut before each "▁" that follows a character other than "▁", unless a bridging token covers that spot.
    let wordStart = 0;
    let prevSpace = false;
    for (let at = 0; at < length; ) {
      const len = Math.min(utf8SequenceLength(text[at]!), length - at);
      const space = len === 3 && isSpaceMark(text, at);
      if (space && !prevSpace && at > wordStart && !this.bridged(text, at, length)) {
        this.encodeWord(text, wordStart, at, out);
        wordStart = at;
      }
      prevSpace = space;
      at += len;
    }
    this.encodeWord(text, wordStart, length, out);
  }

  /** Whether some bridging token matches the text across position `at`. */
  private bridged(text: Uint8Array, at: number, length: number): boolean {
    const { bytes, offsets } = this.vocab;
    for (const { id, at: marks } of this.bridges!) {
      const t0 = offsets[id]!;
      const n = offsets[id + 1]! - t0;
      for (const j of marks) {
        const s = at - j;
        if (s < 0 || s + n > length) continue;
        let i = 0;
        while (i < n && bytes[t0 + i] === text[s + i]) i++;
        if (i === n) return true;
      }
    }
    return false;
  }

  private encodeWord(text: Uint8Array, from: number, to: number, out: number[]): void {
    const h = hashBytes(text, from, to);
    if (this.cache.lookup(h, text, from, to, out)) return;
    const first = out.length;
    this.encodeRange(text, from, to, out);
    this.cache.add(h, text, from, to, out, first);
  }

  /** The tokens of text[from, to): merged whole, or in chunks when it is long. */
  private encodeRange(text: Uint8Array, from: number, to: number, out: number[]): void {
    if (to === from) return;
    if (to - from <= LONG_WORD_BYTES) {
      this.merge(this.main, text, from, to);
      for (let i = 0; i >= 0; i = this.main.next[i]!) this.emit(this.main, text, i, out);
      return;
    }
    // Chunks of LONG_WORD_BYTES (ending on a character boundary); at each cut
    // the last piece kept and the chunk's first piece must be compatible,
    // else the last piece is taken back and the chunk merged again from its
    // start (exact: see bpe.ts, encodeLongWord).
    const outStart = out.length;
    let kept = 0;
    let dropped = false;
    let s = from;
    while (s < to) {
      let e = Math.min(to, s + LONG_WORD_BYTES);
      while (e < to && (text[e]! & 0xc0) === 0x80) e++; // never inside a character
      const st = this.main;
      this.merge(st, text, s, e);
      if (kept > 0) {
        const xStart = this.keptStart[kept - 1]!;
        const yEnd = st.next[0]! >= 0 ? st.start[st.next[0]!]! : e;
        if (!this.compatible(text, xStart, s, yEnd)) {
          out.length = this.keptOut[--kept]!;
          s = xStart;
          if (kept === 0 && dropped) {
            // The history needed to keep checking is gone: merge the range whole.
            out.length = outStart;
            this.merge(this.main, text, from, to);
            for (let i = 0; i >= 0; i = this.main.next[i]!) this.emit(this.main, text, i, out);
            return;
          }
          continue;
        }
      }
      for (let i = 0; i >= 0; i = st.next[i]!) {
        if (kept === this.keptStart.length) {
          // Forget the oldest half of the history.
          const half = kept >> 1;
          this.keptStart.copyWithin(0, half, kept);
          this.keptOut.copyWithin(0, half, kept);
          kept -= half;
          dropped = true;
        }
        this.keptStart[kept] = st.start[i]!;
        this.keptOut[kept] = out.length;
        kept++;
        this.emit(st, text, i, out);
      }
      s = e;
    }
  }

  /** Whether pieces text[xStart, split) and text[split, yEnd) stay two pieces when merged alone. */
  private compatible(text: Uint8Array, xStart: number, split: number, yEnd: number): boolean {
    const st = this.probe;
    this.merge(st, text, xStart, yEnd);
    const second = st.next[0]!;
    return second >= 0 && st.start[second] === split && st.next[second]! === -1;
  }

  /** Appends the token of final symbol i (or its byte tokens when it is not a token). */
  private emit(st: SpmMergeState, text: Uint8Array, i: number, out: number[]): void {
    const id = this.vocab.table.findHashed(st.hash[i]!, text, st.start[i]!, st.size[i]!);
    if (id >= 0) {
      out.push(id);
      return;
    }
    for (let j = st.start[i]!; j < st.start[i]! + st.size[i]!; j++) {
      const byteId = this.byteToken[text[j]!]!;
      if (byteId < 0) {
        throw new ShortgptError(
          "ERR_TOKENIZER_NO_BYTE_TOKEN",
          `the vocabulary has no token for byte 0x${text[j]!.toString(16).padStart(2, "0")} (neither <0xXX> nor the raw byte); llama.cpp fails here too`,
        );
      }
      out.push(byteId);
    }
  }

  /**
   * The merge loop over text[from, to): afterwards the final symbols are
   * i = 0, st.next[0], ... (-1 ends), each the bytes [st.start[i], + st.size[i]).
   */
  private merge(st: SpmMergeState, text: Uint8Array, from: number, to: number): void {
    const length = to - from;
    st.ensure(length);
    const { start, size, prev, next, hash, power } = st;
    const table = this.vocab.table;
    const scores = this.vocab.scores;
    const queue = st.queue;
    queue.clear();

    // One symbol per UTF-8 character (by the lead byte's announced length).
    let count = 0;
    for (let at = from; at < to; ) {
      const len = Math.min(utf8SequenceLength(text[at]!), to - at);
      let h = 0;
      for (let i = at; i < at + len; i++) h = combineHash(h, text[i]!, POWERS[1]!);
      start[count] = at;
      size[count] = len;
      hash[count] = h;
      power[count] = POWERS[len]!;
      prev[count] = count - 1;
      next[count] = at + len < to ? count + 1 : -1;
      count++;
      at += len;
    }

    const tryPair = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const h = combineHash(hash[l]!, hash[r]!, power[r]!);
      const total = size[l]! + size[r]!;
      const id = table.findHashed(h, text, start[l]!, total);
      // Max-heap on score through a min-heap on -score; ties go to the leftmost pair.
      if (id >= 0) queue.push(-scores[id]!, l, r, total, 0, 0);
    };
    for (let i = 1; i < count; i++) tryPair(i - 1, i);

    while (queue.size > 0) {
      const l = queue.topTie();
      const r = queue.topPayload(0);
      const total = queue.topPayload(1);
      queue.pop();
      // Stale entry: a side was merged away, or the right side has grown.
      if (size[l] === 0 || size[r] === 0 || size[l]! + size[r]! !== total) continue;
      hash[l] = combineHash(hash[l]!, hash[r]!, power[r]!);
      power[l] = Math.imul(power[l]!, power[r]!);
      size[l] = total;
      size[r] = 0;
      const after = next[r]!;
      next[l] = after;
      if (after >= 0) prev[after] = l;
      tryPair(prev[l]!, l);
      tryPair(l, after);
    }
  }
}

/** Words longer than this many bytes are merged in chunks of about this size. */
const LONG_WORD_BYTES = 1 << 16;

/** Per-symbol state of one merge run (symbols by character index; size 0 once merged away). */
class SpmMergeState {
  start = new Int32Array(1024);
  size = new Int32Array(1024);
  prev = new Int32Array(1024);
  next = new Int32Array(1024);
  hash = new Int32Array(1024);
  power = new Int32Array(1024);
  readonly queue = new MergeQueue(1024);

  ensure(n: number): void {
    if (this.start.length >= n) return;
    const cap = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(cap);
    this.size = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.hash = new Int32Array(cap);
    this.power = new Int32Array(cap);
  }
}
