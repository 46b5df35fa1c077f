/**
 * The merge queue of the SPM and BPE tokenizers: a binary min-heap over
 * typed arrays (no allocation per entry), ordered by a float key, then by an
 * integer key (the left symbol's index: ties go to the leftmost pair, as in
 * llama.cpp). Each entry carries four integers of payload.
 */
export class MergeQueue {
  private key: Float64Array;
  private tie: Int32Array;
  private payload: Int32Array;
  /** Entries in the heap. */
  size = 0;

  constructor(capacity = 256) {
    this.key = new Float64Array(capacity);
    this.tie = new Int32Array(capacity);
    this.payload = new Int32Array(capacity * 4);
  }

  clear(): void {
    this.size = 0;
  }

  push(key: number, tie: number, a: number, b: number, c: number, d: number): void {
    if (this.size === this.key.length) this.grow();
    let i = this.size++;
    // Sift up: move parents down until the new entry's place is found.
    const keys = this.key;
    const ties = this.tie;
    const pl = this.payload;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk = keys[parent]!;
      if (pk < key || (pk === key && ties[parent]! <= tie)) break;
      keys[i] = pk;
      ties[i] = ties[parent]!;
      pl[i * 4] = pl[parent * 4]!;
      pl[i * 4 + 1] = pl[parent * 4 + 1]!;
      pl[i * 4 + 2] = pl[parent * 4 + 2]!;
      pl[i * 4 + 3] = pl[parent * 4 + 3]!;
      i = parent;
    }
    keys[i] = key;
    ties[i] = tie;
    pl[i * 4] = a;
    pl[i * 4 + 1] = b;
    pl[i * 4 + 2] = c;
    pl[i * 4 + 3] = d;
  }

  /** Payload of the top entry, valid until the next push/pop. */
  topTie(): number {
    return this.tie[0]!;
  }
  topPayload(field: 0 | 1 | 2 | 3): number {
    return this.payload[field]!;
  }

  /** Removes the top entry. */
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const keys = this.key;
    const ties = this.tie;
    const pl = this.payload;
    const key = keys[n]!;
    const tie = ties[n]!;
    const a = pl[n * 4]!;
    const b = pl[n * 4 + 1]!;
    const c = pl[n * 4 + 2]!;
    const d = pl[n * 4 + 3]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (keys[right]! < keys[child]! || (keys[right] === keys[child] && ties[right]! < ties[child]!))) child = right;
      const ck = keys[child]!;
      if (key < ck || (key === ck && tie <= ties[child]!)) break;
      keys[i] = ck;
      ties[i] = ties[child]!;
      pl[i * 4] = pl[child * 4]!;
      pl[i * 4 + 1] = pl[child * 4 + 1]!;
      pl[i * 4 + 2] = pl[child * 4 + 2]!;
      pl[i * 4 + 3] = pl[child * 4 + 3]!;
      i = child;
    }
    keys[i] = key;
    ties[i] = tie;
    pl[i * 4] = a;
    pl[i * 4 + 1] = b;
    pl[i * 4 + 2] = c;
    pl[i * 4 + 3] = d;
  }

  private grow(): void {
    const cap = this.key.length * 2;
    const key = new Float64Array(cap);
    key.set(this.key);
    const tie = new Int32Array(cap);
    tie.set(this.tie);
    const payload = new Int32Array(cap * 4);
    payload.set(this.payload);
    this.key = key;
    this.tie = tie;
    this.payload = payload;
  }
}
