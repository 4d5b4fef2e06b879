// Deterministic randomness for the simulated datastores: a seeded PRNG and VMFS-style volume ids.

import { createHash } from 'node:crypto';

/** A 32-bit seed derived from any text. */
export function seedFrom(text: string): number {
  return createHash('sha1').update(text).digest().readUInt32BE(0);
}

/** mulberry32: small, fast, good enough to scatter blocks; its whole state is one uint32. */
export class SeededRandom {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/**
 * Volume uuid and LVID shaped like a host's ("4655dd66-758d208c-1b24-001aa0187722": creation time in hex,
 * random, random, MAC address). The LVID shares the MAC and is stamped a second earlier, as on a host.
 */
export function volumeIds(seed: number, name: string): { uuid: string; lvid: string } {
  const digest = createHash('sha1').update(`vmfs-volume:${seed}:${name}`).digest();
  const created = 0x45000000 + (digest.readUInt32BE(0) % 0x10000000);
  const mac = '001a' + digest.subarray(4, 8).toString('hex');
  const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  const uuid = `${hex8(created)}-${digest.subarray(8, 12).toString('hex')}-${digest.subarray(12, 14).toString('hex')}-${mac}`;
  const lvid = `${hex8(created - 1)}-${digest.subarray(14, 18).toString('hex')}-${digest.subarray(18, 20).toString('hex')}-${mac}`;
  return { uuid, lvid };
}
