// FlatDiskWriter with writes in flight: a reused caller buffer, split extents and a later overlay give exact files and digest.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockLine, DIGEST_BLOCK, digestPreamble, hashBlock } from '../../src/export/block-digest.js';
import { FlatDiskWriter } from '../../src/export/flat-disk-writer.js';

const MiB = 1024 * 1024;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flat-writer-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectedDigest(image: Buffer): string {
  let list = '';
  for (let offset = 0; offset < image.length; offset += DIGEST_BLOCK) {
    const hex = hashBlock(image.subarray(offset, Math.min(image.length, offset + DIGEST_BLOCK)));
    if (hex) list += blockLine(offset, hex);
  }
  return `sha256:${createHash('sha256').update(digestPreamble(image.length)).update(list).digest('hex')}`;
}

describe('FlatDiskWriter', () => {
  it('writes streamed chunks exactly while the caller reuses its buffer, overlays land after them, zeros stay holes', async () => {
    const capacity = 24 * MiB + 4096;
    const image = Buffer.alloc(capacity);
    const dataBlocks = [0, 1, 2, 3, 5, 6, 7, 11, 12, 13, 14, 15, 16, 20, 21, 22];
    for (const b of dataBlocks) randomBytes(MiB).copy(image, b * MiB);
    randomBytes(4096).copy(image, 24 * MiB);
    const writer = await FlatDiskWriter.create({
      dir, descriptorFileName: 'disk.vmdk', capacity, layout: 'twoGbMaxExtentFlat',
      splitExtentBytes: 5 * MiB + 512 * 3, blocksInMemory: 3,
    });
    const reused = Buffer.allocUnsafe(MiB);
    for (let offset = 0; offset < capacity; offset += MiB) {
      const length = Math.min(MiB, capacity - offset);
      image.copy(reused, 0, offset, offset + length);
      await writer.writeStreamed(offset, reused.subarray(0, length));
      reused.fill(0xa5);
    }
    const overlay = { offset: 6 * MiB - 700, length: 2 * MiB };
    const overlayBytes = randomBytes(overlay.length);
    await writer.writeAt(overlay.offset, overlayBytes);
    overlayBytes.copy(image, overlay.offset);
    const written = await writer.finish([overlay]);

    const output = Buffer.concat(written.extentFiles.map((f) => readFileSync(join(dir, f))));
    expect(written.extentFiles.length).toBe(5);
    expect(output.equals(image)).toBe(true);
    expect(written.digest).toBe(expectedDigest(image));
    const allocated = written.extentFiles.reduce((sum, f) => sum + statSync(join(dir, f)).blocks * 512, 0);
    expect(allocated).toBeLessThan(capacity - 5 * MiB);
  });

  it('refuses a streamed write outside the disk', async () => {
    const writer = await FlatDiskWriter.create({ dir, descriptorFileName: 'small.vmdk', capacity: MiB, layout: 'monolithicFlat' });
    await expect(writer.writeStreamed(MiB - 512, Buffer.alloc(1024, 1))).rejects.toThrow(RangeError);
    await writer.abandon();
  });
});
