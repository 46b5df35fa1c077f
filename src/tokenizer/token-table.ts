/**
 * Byte string -> token id lookups without building JS strings: an
 * open-addressing hash table over the vocabulary's bytes. The hash is
 * polynomial so that the hash of a concatenation follows from the hashes of
 * its parts (combineHash), which is what the merge loops need: a merged
 * symbol's hash costs two multiplications, not a pass over its bytes.
 */

/** Multiplier of the polynomial hash (odd; arithmetic is mod 2^32). */
const P = 0x01000193;

/** Hash of bytes[start, end). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, P) + bytes[i]!) | 0;
  return h;
}

/** P^length mod 2^32, the factor combineHash needs for the right part. */
export function hashPower(length: number): number {
  let r = 1;
  let b = P;
  let e = length;
  while (e > 0) {
    if (e & 1) r = Math.imul(r, b);
    b = Math.imul(b, b);
    e >>>= 1;
  }
  return r;
}

/** Hash of left ++ right, from hash(left), hash(right) and P^length(right). */
export function combineHash(left: number, right: number, rightPower: number): number {
  return (Math.imul(left, rightPower) + right) | 0;
}

/** Spreads the polynomial hash's weak low bits before they index the table. */
function slotOf(h: number, mask: number): number {
  let x = h ^ (h >>> 16);
  x = Math.imul(x, 0x45d9f3b);
  x ^= x >>> 16;
  return x & mask;
}

/** A set of byte strings with ids (the strings live in one buffer, by offsets). */
export class ByteStringTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly hashes: Int32Array;

  /**
   * @param bytes  all strings, back to back
   * @param offsets offsets[i]..offsets[i+1] are the bytes of string i
   * @param include which ids to put in the table (all when omitted)
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly offsets: Int32Array,
    include?: (id: number) => boolean,
  ) {
    const count = offsets.length - 1;
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    this.hashes = new Int32Array(count);
    for (let id = 0; id < count; id++) {
      if (include && !include(id)) continue;
      const h = hashBytes(bytes, offsets[id]!, offsets[id + 1]!);
      this.hashes[id] = h;
      let s = slotOf(h, this.mask);
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = id + 1;
    }
  }

  /** Id of the string equal to text[start, end), or -1. */
  find(text: Uint8Array, start: number, end: number): number {
    return this.findHashed(hashBytes(text, start, end), text, start, end - start);
  }

  /** Like find, with the hash of text[start, start + length) already known. */
  findHashed(h: number, text: Uint8Array, start: number, length: number): number {
    const slots = this.slots;
    const offsets = this.offsets;
    const bytes = this.bytes;
    let s = slotOf(h, this.mask);
    for (;;) {
      const entry = slots[s]!;
      if (entry === 0) return -1;
      const id = entry - 1;
      if (this.hashes[id] === h) {
        const off = offsets[id]!;
        if (offsets[id + 1]! - off === length) {
          let i = 0;
          while (i < length && bytes[off + i] === text[start + i]) i++;
          if (i === length) return id;
        }
      }
      s = (s + 1) & this.mask;
    }
  }
}
