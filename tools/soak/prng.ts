// A small seeded pseudo-random generator for the soak run, so the same --seed gives the same choices.

/** Mixes two 32-bit numbers into one (a multiply-xorshift hash), to derive a cycle's seed from the run's seed. */
export function mixSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x632be5ab, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * xorshift32 with its state scrambled on output. Not for anything but picking test cases: it only has to be
 * deterministic, cheap and spread evenly enough over a few hundred draws.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    // xorshift's state must not be zero; the mix also spreads nearby seeds (1, 2, 3) apart.
    this.state = mixSeed(seed, 0x5eed) || 0x1badb002;
  }

  /** A float in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return (Math.imul(x, 0x2545f491) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}
