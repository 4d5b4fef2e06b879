// BlockAssembler with the real hashing thread: lines per the digest definition, writes of the data only, failures surface.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { BlockAssembler } from '../../src/export/block-assembler.js';
import { DIGEST_BLOCK } from '../../src/export/block-digest.js';
import { HashThread } from '../../src/export/hash-thread.js';

const hasher = new HashThread();
afterAll(() => hasher.close());

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function assemblerInto(capacity: number, slots = 2) {
  const output = Buffer.alloc(capacity);
  const lines: string[] = [];
  const writes: Array<[number, number]> = [];
  const assembler = new BlockAssembler({
    capacity,
    hasher,
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

describe('HashThread', () => {
  it('hashes a block it is lent: the memory is detached meanwhile and comes back holding the same bytes', async () => {
    const memory = new ArrayBuffer(DIGEST_BLOCK);
    const bytes = Buffer.from(memory);
    randomBytes(DIGEST_BLOCK).copy(bytes);
    const expected = Buffer.from(bytes);
    const answer = hasher.sha256(memory, DIGEST_BLOCK - 7);
    expect(memory.byteLength).toBe(0);
    const { hex, memory: back } = await answer;
    expect(hex).toBe(sha(expected.subarray(0, DIGEST_BLOCK - 7)));
    expect(Buffer.from(back).equals(expected)).toBe(true);
  });

  it('warm() starts the thread ahead of the first block, and an idle warmed thread lets the process exit', async () => {
    const own = new HashThread();
    own.warm();
    const memory = new ArrayBuffer(16);
    expect((await own.sha256(memory, 3)).hex).toBe(sha(Buffer.alloc(3)));
    await own.close();
    expect(() => own.warm()).not.toThrow();
    await expect(own.sha256(new ArrayBuffer(1), 1)).rejects.toThrow(/closed/);
    // A process that only warms the thread ends by itself: the worker is not referenced while idle.
    // (A script file: node -e exits on its own terms.)
    const module = pathToFileURL(join(import.meta.dirname, '../../dist/export/hash-thread.js')).href;
    const dir = mkdtempSync(join(tmpdir(), 'vcb-warm-'));
    const script = join(dir, 'warm.mjs');
    writeFileSync(script, `import { HashThread } from ${JSON.stringify(module)};\nnew HashThread().warm();\nsetTimeout(() => console.log('done'), 50);\n`);
    try {
      const child = await execa(process.execPath, [script], { timeout: 10_000, reject: false });
      expect(child.timedOut).toBe(false);
      expect(child.exitCode).toBe(0);
      expect(child.stdout).toBe('done');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('BlockAssembler', () => {
  it('lists exactly the non-zero blocks with sha256 of their full bytes, whatever the chunking and gaps, and writes only data', async () => {
    const capacity = 6 * DIGEST_BLOCK + 4096;
    const image = Buffer.alloc(capacity);
    randomBytes(100).copy(image, DIGEST_BLOCK + 500_000);
    randomBytes(3000).copy(image, 3 * DIGEST_BLOCK - 1500);
    randomBytes(DIGEST_BLOCK).copy(image, 4 * DIGEST_BLOCK);
    randomBytes(10).copy(image, 6 * DIGEST_BLOCK + 4000);
    const { assembler, output, lines, writes } = assemblerInto(capacity);
    const pieces: Array<[number, number]> = [[0, 300_000], [DIGEST_BLOCK + 400_000, 1_000_000], [3 * DIGEST_BLOCK - 2000, 4000], [4 * DIGEST_BLOCK, 2 * DIGEST_BLOCK], [6 * DIGEST_BLOCK, 4096]];
    const reused = Buffer.alloc(2 * DIGEST_BLOCK);
    for (const [offset, length] of pieces) {
      image.copy(reused, 0, offset, offset + length);
      await assembler.push(offset, reused.subarray(0, length));
      reused.fill(0xee);
    }
    await assembler.finish();
    const blockAt = (i: number) => image.subarray(i * DIGEST_BLOCK, Math.min(capacity, (i + 1) * DIGEST_BLOCK));
    expect(lines).toEqual([1, 2, 3, 4, 6].map((i) => `${i * DIGEST_BLOCK} ${sha(blockAt(i))}\n`));
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
      hasher,
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

  it('fails the lines when the hashing thread is gone', async () => {
    const own = new HashThread();
    const assembler = new BlockAssembler({ capacity: 2 * DIGEST_BLOCK, hasher: own, write: async () => {}, onLine: () => {} });
    await assembler.push(0, randomBytes(DIGEST_BLOCK));
    await own.close();
    await assembler.push(DIGEST_BLOCK, randomBytes(10));
    await expect(assembler.finish()).rejects.toThrow(/hashing thread/);
  });
});
