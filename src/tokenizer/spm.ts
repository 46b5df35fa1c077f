/**
 * SentencePiece-style BPE (tokenizer.ggml.model = llama), as llama.cpp runs
 * it (llm_tokenizer_spm_session): the text, with spaces written as U+2581,
 * starts as one symbol per UTF-8 character; the adjacent pair whose
 * concatenation is the vocabulary token with the highest score is merged
 * first (ties: leftmost), through a priority queue over a linked list of
 * symbols; a final symbol that is not a token becomes byte tokens <0xXX>.
 *
 * There are no words here: a whole fragment is one merge problem. Symbols
 * are byte ranges of the fragment; a pair's text is found in the vocabulary
 * through the composable hash (token-table.ts), so a merge never copies or
 * rehashes bytes.
 */
import { ShortgptError } from "../errors.js";
import { MergeQueue } from "./heap.js";
import { combineHash, hashPower } from "./token-table.js";
import { utf8SequenceLength } from "./unicode.js";
import type { Vocab } from "./vocab.js";

const POWERS = Int32Array.from({ length: 5 }, (_, n) => hashPower(n));

export class SpmTokenizer {
  /** Byte -> its byte token (<0xXX>, else the one-byte token), -1 if neither exists. */
  private readonly byteToken: Int32Array;

  private start = new Int32Array(1024);
  private size = new Int32Array(1024);
  private prev = new Int32Array(1024);
  private next = new Int32Array(1024);
  private hash = new Int32Array(1024);
  private power = new Int32Array(1024);
  private readonly queue = new MergeQueue(1024);

  constructor(private readonly vocab: Vocab) {
    const enc = new TextEncoder();
    this.byteToken = Int32Array.from({ length: 256 }, (_, b) => {
      const hex = enc.encode(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      const id = vocab.table.find(hex, 0, hex.length);
      return id >= 0 ? id : vocab.table.find(Uint8Array.of(b), 0, 1);
    });
  }

  /** Tokenizes text[0, length) (already escaped: spaces as U+2581), appending to out. */
  encodeEscaped(text: Uint8Array, length: number, out: number[]): void {
    if (length === 0) return;
    if (this.start.length < length) this.grow(length);
    const { start, size, prev, next, hash, power } = this;
    const table = this.vocab.table;
    const scores = this.vocab.scores;
    const queue = this.queue;
    queue.clear();

    // One symbol per UTF-8 character (by the lead byte's announced length).
    let count = 0;
    for (let at = 0; at < length; ) {
      const len = Math.min(utf8SequenceLength(text[at]!), length - at);
      let h = 0;
      for (let i = at; i < at + len; i++) h = combineHash(h, text[i]!, POWERS[1]!);
      start[count] = at;
      size[count] = len;
      hash[count] = h;
      power[count] = POWERS[len]!;
      prev[count] = count - 1;
      next[count] = at + len < length ? count + 1 : -1;
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

    for (let i = 0; i >= 0; i = next[i]!) {
      const id = table.findHashed(hash[i]!, text, start[i]!, size[i]!);
      if (id >= 0) {
        out.push(id);
        continue;
      }
      for (let j = start[i]!; j < start[i]! + size[i]!; j++) {
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
  }

  private grow(n: number): void {
    const cap = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(cap);
    this.size = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.hash = new Int32Array(cap);
    this.power = new Int32Array(cap);
  }
}
