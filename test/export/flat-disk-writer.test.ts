// FlatDiskWriter with writes in flight: a reused caller buffer, split extents and a later overlay give exact files and digest.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockLine, DIGEST_BLOCK, digestPreamble, hashBlock } from '../../src/export/block-digest.js';
import { FlatDiskWriter } from '../../src/export/flat-disk-writer.js';
import { directWriteFileSystem } from '../../src/util/direct-io.js';

const MiB = 1024 * 1024;

let dir: string;
/** On a disk file system (a RAM disk's files are its page cache): under the package, not /tmp, which may be tmpfs. */
let onDisk: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flat-writer-'));
  const root = fileURLToPath(new URL('../../test-results/', import.meta.url));
  mkdirSync(root, { recursive: true });
  onDisk = mkdtempSync(join(root, 'flat-writer-direct-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(onDisk, { recursive: true, force: true });
});

/** Bytes of the file in the page cache (util-linux fincore). */
function cachedBytes(path: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim());
}

async function writeImage(image: Buffer, at: string, name: string, direct?: boolean | 'auto') {
  const writer = await FlatDiskWriter.create({ dir: at, descriptorFileName: name, capacity: image.length, layout: 'monolithicFlat', ...(direct === undefined ? {} : { direct }) });
  for (let offset = 0; offset < image.length; offset += MiB) await writer.writeStreamed(offset, image.subarray(offset, offset + MiB));
  return writer.finish();
}

function expectedDigest(image: Buffer): string {
  let list = '';
  for (let offset = 0; offset < image.length; offset += DIGEST_BLOCK) {
    const hex = hashBlock(image.subarray(offset, Math.min(image.length, offset + DIGEST_BLOCK)), 'xxh64');
    if (hex) list += blockLine(offset, hex);
  }
  return `sha256:${createHash('sha256').update(digestPreamble(image.length, 'xxh64')).update(list).digest('hex')}`;
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

  it('writes around the page cache where the file system takes O_DIRECT, through it when told not to', async () => {
    const image = randomBytes(16 * MiB);
    // Runs that do not start or end on 4 KiB: their edges go through the cache, the rest around it.
    image.fill(0, 3 * MiB, 3 * MiB + 1000);
    image.fill(0, 9 * MiB - 3000, 9 * MiB);
    const direct = await writeImage(image, onDisk, 'direct.vmdk', true);
    const cached = await writeImage(image, onDisk, 'cached.vmdk', false);
    const directFile = join(onDisk, direct.extentFiles[0]!);
    const cachedFile = join(onDisk, cached.extentFiles[0]!);
    // Measured before the files are read back (reading fills the cache).
    expect(cachedBytes(directFile)).toBeLessThan(MiB);
    expect(cachedBytes(cachedFile)).toBeGreaterThan(12 * MiB);
    expect(readFileSync(directFile).equals(image)).toBe(true);
    expect(readFileSync(cachedFile).equals(image)).toBe(true);
    expect(direct.digest).toBe(expectedDigest(image));
    expect(cached.digest).toBe(direct.digest);
  });

  it('without page-aligned memory (node --jitless), falls back to the page cache when a direct write is refused', async () => {
    const image = randomBytes(6 * MiB);
    image.fill(0, 2 * MiB, 3 * MiB);
    const source = join(onDisk, 'jitless-source.img');
    writeFileSync(source, image);
    const script = `
      import { readFileSync } from 'node:fs';
      import { FlatDiskWriter } from ${JSON.stringify(new URL('../../dist/export/flat-disk-writer.js', import.meta.url).href)};
      const image = readFileSync(process.argv[1]);
      const writer = await FlatDiskWriter.create({ dir: process.argv[2], descriptorFileName: 'jitless.vmdk', capacity: image.length, layout: 'monolithicFlat', direct: true });
      for (let offset = 0; offset < image.length; offset += 1048576) await writer.writeStreamed(offset, image.subarray(offset, offset + 1048576));
      process.stdout.write(JSON.stringify(await writer.finish()));
    `;
    const r = await execa(process.execPath, ['--jitless', '--input-type=module', '-e', script, source, onDisk]);
    const written = JSON.parse(r.stdout) as { extentFiles: string[]; digest: string };
    const file = join(onDisk, written.extentFiles[0]!);
    // Written through the cache: the direct writes were refused and nothing was lost.
    expect(cachedBytes(file)).toBeGreaterThan(4 * MiB);
    expect(readFileSync(file).equals(image)).toBe(true);
    expect(written.digest).toBe(expectedDigest(image));
    expect(statSync(file).blocks * 512).toBeLessThan(6 * MiB);
  });

  it('by default writes directly only on local disk file systems (ext2/3/4, XFS, Btrfs), not on a RAM disk or a network one', async () => {
    expect(directWriteFileSystem(0xef53)).toBe('ext2/3/4');
    expect(directWriteFileSystem(0x58465342)).toBe('xfs');
    expect(directWriteFileSystem(0x9123683e)).toBe('btrfs');
    for (const other of [0x01021994 /* tmpfs */, 0x6969 /* NFS */, 0xfe534d42 /* SMB2 */, 0x65735546 /* FUSE */, 0x794c7630 /* overlayfs */]) {
      expect(directWriteFileSystem(other)).toBeUndefined();
    }
    const open = async (dir: string, direct?: boolean | 'auto') => {
      const writer = await FlatDiskWriter.create({ dir, descriptorFileName: `policy-${Math.random()}.vmdk`, capacity: MiB, layout: 'monolithicFlat', ...(direct === undefined ? {} : { direct }) });
      const directly = writer.writesDirectly;
      await writer.abandon();
      return directly;
    };
    const shm = mkdtempSync('/dev/shm/flat-writer-');
    try {
      expect(await open(shm)).toBe(false);
      expect(await open(shm, 'auto')).toBe(false);
      expect(await open(onDisk, false)).toBe(false);
      expect(await open(onDisk)).toBe(directWriteFileSystem(statfsSync(onDisk).type) !== undefined);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
