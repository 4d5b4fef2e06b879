// StreamBlockHasher: the block list of pieces streamed in order equals block-digest's definition over the whole image.

import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { blockLine, DIGEST_BLOCK, hashBlock, type BlockHash } from '../../src/export/block-digest.js';
import { StreamBlockHasher } from '../../src/export/block-hasher.js';

const MiB = 1024 * 1024;

/** The reference: every block of the whole image hashed on its own, all-zero ones left out. */
function referenceLines(image: Buffer, hash: BlockHash): string[] {
  const lines: string[] = [];
  for (let start = 0; start < image.length; start += DIGEST_BLOCK) {
    const hex = hashBlock(image.subarray(start, Math.min(image.length, start + DIGEST_BLOCK)), hash);
    if (hex) lines.push(blockLine(start, hex));
  }
  return lines;
}

/** A disk with data, zero runs inside data blocks, wholly zero blocks and a short last block. */
function sampleImage(seed: number): Buffer {
  const image = Buffer.alloc(5 * MiB + 4096);
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 40; i++) {
    const at = next() % image.length;
    randomBytes(Math.min(next() % 200_000, image.length - at)).copy(image, at);
  }
  image.fill(0, 2 * MiB, 3 * MiB);
  return image;
}

describe('StreamBlockHasher', () => {
  test.each([
    [1, 'xxh64'],
    [2, 'xxh64'],
    [3, 'xxh64'],
    [4, 'sha256'],
  ] as const)('pieces of random sizes, with bytes never given (holes), give the reference list (seed %i, %s)', (seed, hash) => {
    const image = sampleImage(seed);
    const lines: string[] = [];
    const hasher = new StreamBlockHasher(image.length, hash, (line) => lines.push(line));
    let x = seed * 7919;
    for (let at = 0; at < image.length; ) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const length = Math.min(1 + (x % 300_000), image.length - at);
      const piece = image.subarray(at, at + length);
      // All-zero pieces are sometimes left out, as a reader leaves out holes.
      if (!(piece.every((b) => b === 0) && x % 2 === 0)) hasher.push(at, piece);
      at += length;
    }
    hasher.finish();
    expect(lines).toEqual(referenceLines(image, hash));
  });

  test('an offset that goes back is refused', () => {
    const hasher = new StreamBlockHasher(4 * MiB, 'xxh64', () => {});
    hasher.push(2 * MiB, Buffer.alloc(10, 1));
    expect(() => hasher.push(0, Buffer.alloc(10, 1))).toThrow(/comes after block 2/);
  });
});
