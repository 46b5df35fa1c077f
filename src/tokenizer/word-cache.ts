/**
 * Token ids of words already tokenized, keyed by the word's bytes (SPM) or
 * code points (BPE), without JS strings: keys and values live in growing
 * typed-array arenas. Real text repeats its words, so most words are found
 * here. When full, it starts over.
 */
const MAX_ENTRIES = 1 << 18;
/** Longer words are not kept: they rarely repeat (a paragraph of Chinese is one SPM "word"). */
const MAX_KEY_UNITS = 256;

type Units = Uint8Array | Uint32Array;

/** Polynomial hash of units[start, end) (the same function as token-table's hashBytes). */
export function hashUnits(units: Units, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, 0x01000193) + units[i]!) | 0;
  return h;
}

export class WordCache {
  private slots = new Int32Array(1024);
  private hashes = new Int32Array(512);
  private keyStart = new Int32Array(512);
  private keyLength = new Int32Array(512);
  private valueStart = new Int32Array(513);
  /** Key units (bytes or code points) of every entry, back to back. */
  private keys = new Uint32Array(4096);
  private values = new Int32Array(4096);
  private count = 0;
  private keyUsed = 0;

  /**
   * Appends the cached ids of bytes[start, end) to out and returns true, or
   * returns false when the word is not cached. `hash` must be hashBytes of the word.
   */
  lookup(hash: number, bytes: Units, start: number, end: number, out: number[]): boolean {
    const mask = this.slots.length - 1;
    const length = end - start;
    for (let s = slotOf(hash) & mask; ; s = (s + 1) & mask) {
      const entry = this.slots[s]! - 1;
      if (entry < 0) return false;
      if (this.hashes[entry] !== hash || this.keyLength[entry] !== length) continue;
      const k = this.keyStart[entry]!;
      let i = 0;
      while (i < length && this.keys[k + i] === bytes[start + i]) i++;
      if (i < length) continue;
      for (let v = this.valueStart[entry]!; v < this.valueStart[entry + 1]!; v++) out.push(this.values[v]!);
      return true;
    }
  }

  /** Caches ids[from..] as the tokens of bytes[start, end). */
  add(hash: number, bytes: Units, start: number, end: number, ids: readonly number[], from: number): void {
    const length = end - start;
    if (length > MAX_KEY_UNITS) return;
    if (this.count >= MAX_ENTRIES) this.clear();
    const n = ids.length - from;
    if (this.count + 1 >= this.hashes.length) this.growEntries();
    if ((this.count + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    this.keys = ensure(this.keys, this.keyUsed + length);
    const valueAt = this.valueStart[this.count]!;
    this.values = ensure(this.values, valueAt + n);
    for (let i = 0; i < length; i++) this.keys[this.keyUsed + i] = bytes[start + i]!;
    for (let i = 0; i < n; i++) this.values[valueAt + i] = ids[from + i]!;
    const entry = this.count++;
    this.hashes[entry] = hash;
    this.keyStart[entry] = this.keyUsed;
    this.keyLength[entry] = length;
    this.valueStart[entry + 1] = valueAt + n;
    this.keyUsed += length;
    this.place(entry);
  }

  clear(): void {
    this.slots.fill(0);
    this.count = 0;
    this.keyUsed = 0;
  }

  private place(entry: number): void {
    const mask = this.slots.length - 1;
    let s = slotOf(this.hashes[entry]!) & mask;
    while (this.slots[s] !== 0) s = (s + 1) & mask;
    this.slots[s] = entry + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let e = 0; e < this.count; e++) this.place(e);
  }

  private growEntries(): void {
    const n = this.hashes.length * 2;
    this.hashes = copyInto(new Int32Array(n), this.hashes);
    this.keyStart = copyInto(new Int32Array(n), this.keyStart);
    this.keyLength = copyInto(new Int32Array(n), this.keyLength);
    this.valueStart = copyInto(new Int32Array(n + 1), this.valueStart);
  }
}

function slotOf(h: number): number {
  let x = h ^ (h >>> 15);
  x = Math.imul(x, 0x2c1b3c6d);
  return x ^ (x >>> 12);
}

function copyInto<T extends Int32Array>(to: T, from: Int32Array): T {
  to.set(from);
  return to;
}

function ensure<T extends Uint32Array | Int32Array>(array: T, size: number): T {
  if (size <= array.length) return array;
  const grown = new (array.constructor as new (n: number) => T)(Math.max(size, array.length * 2));
  grown.set(array);
  return grown;
}
