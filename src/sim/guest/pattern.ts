// The guest's deterministic write pattern: the bytes of write number `seq` follow from the seed alone.

/** Fills `length` bytes for write `seq` of a guest seeded with `seed` (xorshift32 stream). */
export function writePattern(seed: number, seq: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seq + 1, 0xc2b2ae35)) >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (let i = length - (length % 4); i < length; i++) out[i] = (seq + i) & 0xff;
  return out;
}

/** A small seeded PRNG for choosing where the guest writes. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x2545f491;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
