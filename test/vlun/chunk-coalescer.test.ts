// ChunkCoalescer: small pieces become aligned chunks of at most the given size, bytes and offsets exact.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkCoalescer } from '../../src/vlun/chunk-coalescer.js';

describe('ChunkCoalescer', () => {
  it('gathers pieces into chunks ending on multiples of the size, split where pieces stop being contiguous', async () => {
    const image = Buffer.alloc(20_000);
    const expected = Buffer.alloc(20_000);
    const chunks: Array<[number, number]> = [];
    const coalescer = new ChunkCoalescer(async (offset, chunk) => {
      await new Promise((resolve) => setImmediate(resolve));
      chunks.push([offset, chunk.length]);
      chunk.copy(image, offset);
      chunk.fill(0xee);
    }, 4096);
    const pieces: Array<[number, number]> = [[100, 3000], [3100, 3000], [6100, 50], [9000, 4096], [13096, 6904]];
    for (const [offset, length] of pieces) {
      const data = randomBytes(length);
      data.copy(expected, offset);
      await coalescer.push(offset, data);
    }
    await coalescer.flush();
    expect(image.equals(expected)).toBe(true);
    expect(chunks).toEqual([
      [100, 3996], [4096, 2054],
      [9000, 3288], [12288, 4096], [16384, 3616],
    ]);
  });

  it('flush with nothing buffered calls no sink', async () => {
    let calls = 0;
    const coalescer = new ChunkCoalescer(() => {
      calls++;
    }, 1024);
    await coalescer.flush();
    expect(calls).toBe(0);
  });
});
