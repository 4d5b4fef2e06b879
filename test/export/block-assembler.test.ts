// BlockAssembler: lines per the digest definition (block-digest.ts), writes of the data only, failures surface.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockAssembler } from '../../src/export/block-assembler.js';
import { blockHex, DIGEST_BLOCK, type BlockHash } from '../../src/export/block-digest.js';

const sha = (data: Buffer, hash: BlockHash = 'xxh64'): string => blockHex(data, hash);

function assemblerInto(capacity: number, slots = 2, hash: BlockHash = 'xxh64') {
  const output = Buffer.alloc(capacity);
  const lines: string[] = [];
  const writes: Array<[number, number]> = [];
  const assembler = new BlockAssembler({
    capacity,
    hash,
    slots,
    async write(offset, data) {
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      data.copy(output, offset);
      writes.push([offset, data.length]);
    },
    onLine: (line) => lines.push(line),
  });
  return { assembler, output, lines, writes };
}

describe('BlockAssembler', () => {
  it.each(['xxh64', 'sha256'] as const)('lists exactly the non-zero blocks with the %s of their full bytes, whatever the chunking and gaps, and writes only data', async (hash) => {
    const capacity = 6 * DIGEST_BLOCK + 4096;
    const image = Buffer.alloc(capacity);
    randomBytes(100).copy(image, DIGEST_BLOCK + 500_000);
    randomBytes(3000).copy(image, 3 * DIGEST_BLOCK - 1500);
    randomBytes(DIGEST_BLOCK).copy(image, 4 * DIGEST_BLOCK);
    randomBytes(10).copy(image, 6 * DIGEST_BLOCK + 4000);
    const { assembler, output, lines, writes } = assemblerInto(capacity, 2, hash);
    const pieces: Array<[number, number]> = [[0, 300_000], [DIGEST_BLOCK + 400_000, 1_000_000], [3 * DIGEST_BLOCK - 2000, 4000], [4 * DIGEST_BLOCK, 2 * DIGEST_BLOCK], [6 * DIGEST_BLOCK, 4096]];
    const reused = Buffer.alloc(2 * DIGEST_BLOCK);
    for (const [offset, length] of pieces) {
      image.copy(reused, 0, offset, offset + length);
      await assembler.push(offset, reused.subarray(0, length));
      reused.fill(0xee);
    }
    await assembler.finish();
    const blockAt = (i: number) => image.subarray(i * DIGEST_BLOCK, Math.min(capacity, (i + 1) * DIGEST_BLOCK));
    expect(lines).toEqual([1, 2, 3, 4, 6].map((i) => `${i * DIGEST_BLOCK} ${sha(blockAt(i), hash)}\n`));
    expect(output.equals(image)).toBe(true);
    expect(writes.some(([offset]) => offset === 0 || offset === 5 * DIGEST_BLOCK)).toBe(false);
  });

  it('gathers small packets into one write per run of data; a zero packet inside a block splits the run', async () => {
    const capacity = 2 * DIGEST_BLOCK;
    const image = randomBytes(capacity);
    const packet = 32 * 1024;
    image.fill(0, 10 * packet, 11 * packet);
    const { assembler, output, lines, writes } = assemblerInto(capacity, 2);
    for (let offset = 0; offset < capacity; offset += packet) await assembler.push(offset, Buffer.from(image.subarray(offset, offset + packet)));
    await assembler.finish();
    expect(output.equals(image)).toBe(true);
    expect(writes.sort((a, b) => a[0] - b[0])).toEqual([[0, 10 * packet], [11 * packet, DIGEST_BLOCK - 11 * packet], [DIGEST_BLOCK, DIGEST_BLOCK]]);
    expect(lines).toEqual([0, 1].map((i) => `${i * DIGEST_BLOCK} ${sha(image.subarray(i * DIGEST_BLOCK, (i + 1) * DIGEST_BLOCK))}\n`));
  });

  it('rejects offsets going backwards and pieces outside the disk', async () => {
    const { assembler } = assemblerInto(4 * DIGEST_BLOCK);
    await assembler.push(2 * DIGEST_BLOCK, Buffer.from([1]));
    await expect(assembler.push(0, Buffer.from([1]))).rejects.toThrow(/after block 2/);
    await expect(assembler.push(4 * DIGEST_BLOCK - 1, Buffer.from([1, 2]))).rejects.toThrow(RangeError);
    await assembler.finish();
  });

  it('reports a failed write on a later call', async () => {
    const assembler = new BlockAssembler({
      capacity: 8 * DIGEST_BLOCK,
      hash: 'xxh64',
      slots: 2,
      write: async () => {
        throw new Error('ENOSPC: no space left on device');
      },
      onLine: () => {},
    });
    const data = randomBytes(DIGEST_BLOCK);
    const attempt = async () => {
      for (let b = 0; b < 8; b++) await assembler.push(b * DIGEST_BLOCK, data);
      await assembler.finish();
    };
    await expect(attempt()).rejects.toThrow(/ENOSPC/);
  });
});
