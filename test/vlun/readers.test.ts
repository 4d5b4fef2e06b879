// NbdReader (real /bin/sh and dd) and SanReader (a LUN image) rebuild a fragmented disk exactly.

import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NbdReader, SanReader } from '../../src/vlun/index.js';
import { VcbError } from '../../src/errors.js';
import { buildFakeDisk, collector, KINDS, TAIL, LVID, MiB, VOLUME_UUID, writeFakeFiles, type BlockKind } from './fake-host.js';
import { LocalShellTransport } from './local-shell-transport.js';


let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vlun-readers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SanReader', () => {
  it('reconstructs the disk from blocks scattered on the LUN, holes and unzeroed blocks as zeros', async () => {
    const disk = buildFakeDisk(KINDS, TAIL);
    const lun = join(dir, 'lun.img');
    writeFakeFiles(disk, join(dir, 'unused-flat'), lun);
    const out = collector(disk.blockMap.size);
    const progress: number[] = [];
    await new SanReader({ [LVID]: lun }, { chunkSize: 256 * 1024 }).read(
      { dataPath: disk.blockMap.path, blockMap: disk.blockMap },
      out.sink,
      { onProgress: (n) => progress.push(n) },
    );
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(out.offsets).toEqual([...out.offsets].sort((a, b) => a - b));
    const allocated = disk.blockMap.extents.filter((e) => e.kind !== 'hole').reduce((s, e) => s + e.length, 0);
    expect(progress[progress.length - 1]).toBe(allocated);
  });

  it('with reads ahead, a chunk stays intact until the sink settles and chunks come in order', async () => {
    const disk = buildFakeDisk(KINDS, TAIL);
    const lun = join(dir, 'lun-ahead.img');
    writeFakeFiles(disk, join(dir, 'unused-flat-ahead'), lun);
    const out = collector(disk.blockMap.size);
    await new SanReader({ [LVID]: lun }, { chunkSize: 64 * 1024, readAhead: 4 }).read(
      { dataPath: disk.blockMap.path, blockMap: disk.blockMap },
      async (offset, chunk) => {
        const before = Buffer.from(chunk);
        await new Promise((r) => setTimeout(r, 1));
        expect(chunk.equals(before)).toBe(true);
        out.sink(offset, chunk);
      },
    );
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(out.offsets).toEqual([...out.offsets].sort((a, b) => a - b));
  });

  it('finds the LUN by volume uuid too', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped'], 4096);
    const lun = join(dir, 'lun-by-uuid.img');
    writeFakeFiles(disk, join(dir, 'unused-flat2'), lun);
    const out = collector(disk.blockMap.size);
    await new SanReader({ [VOLUME_UUID]: lun }).read({ dataPath: 'x', blockMap: disk.blockMap }, out.sink);
    expect(out.image.equals(disk.expected)).toBe(true);
  });

  it('names the LVID and the flag when the LUN is not mapped', async () => {
    const disk = buildFakeDisk(['hole', 'mapped'], MiB);
    const error = await new SanReader({}, { lunFlag: '--san-lun' })
      .read({ dataPath: 'x', blockMap: disk.blockMap }, () => {})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VcbError);
    expect((error as VcbError).code).toBe('USAGE');
    expect((error as Error).message).toContain(LVID);
    expect((error as Error).message).toContain('--san-lun');
  });

  it('fails on a LUN too short for an extent, naming the LUN and offset', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped'], MiB);
    const lun = join(dir, 'short-lun.img');
    writeFakeFiles(disk, join(dir, 'unused-flat3'), lun);
    truncateSync(lun, 2 * MiB);
    const error = await new SanReader({ [LVID]: lun })
      .read({ dataPath: 'x-flat.vmdk', blockMap: disk.blockMap }, () => {})
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/short read from LUN .*short-lun\.img.* at 3145728/);
  });

  it('stops when aborted', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'mapped'], MiB);
    const lun = join(dir, 'abort-lun.img');
    writeFakeFiles(disk, join(dir, 'unused-flat4'), lun);
    const controller = new AbortController();
    let chunks = 0;
    const error = await new SanReader({ [LVID]: lun }, { chunkSize: 256 * 1024 })
      .read({ dataPath: 'x', blockMap: disk.blockMap }, () => {
        if (++chunks === 2) controller.abort(new Error('stop here'));
      }, { signal: controller.signal })
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).toBe('stop here');
    expect(chunks).toBe(2);
  });
});

describe('NbdReader over a real shell and dd', () => {
  const nasty = `it's a "vm" $(touch pwned) dir`;

  it('reconstructs the disk through dd with awkward path characters, batching extents', async () => {
    const vmDir = join(dir, nasty);
    mkdirSync(vmDir);
    const disk = buildFakeDisk(KINDS, TAIL);
    const flat = join(vmDir, `disk "0" $(id)-flat.vmdk`);
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun.img'));
    const transport = new LocalShellTransport(dir);
    const out = collector(disk.blockMap.size);
    await new NbdReader(transport, { readsPerCommand: 2, maxGapBytes: 0 }).read({ dataPath: flat, blockMap: disk.blockMap }, out.sink);
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    // mapped runs: [0], [2,3], [6,7], [9 + unaligned tail] -> 1 + 1 + 1 + 3 dd reads, two per command line
    expect(transport.commandLines.length).toBe(3);
    expect(transport.commandLines.every((line) => line.includes(' && ') )).toBe(true);
  });

  it('reads through holes of up to 1 MiB in one dd and drops their bytes; progress counts data only', async () => {
    const kinds: BlockKind[] = ['mapped', 'hole', 'mapped', 'unzeroed', 'hole', 'mapped', 'hole', 'mapped', 'mapped'];
    const disk = buildFakeDisk(kinds, MiB);
    const flat = join(dir, 'gaps-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun-gaps.img'));
    const transport = new LocalShellTransport(dir);
    const out = collector(disk.blockMap.size);
    const progress: number[] = [];
    await new NbdReader(transport).read({ dataPath: flat, blockMap: disk.blockMap }, out.sink, {
      onProgress: (n) => progress.push(n),
    });
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(out.offsets).toEqual([0, 2 * MiB, 5 * MiB, 7 * MiB, 8 * MiB]);
    // blocks 0..2 in one dd (1 MiB hole read through), the 2 MiB gap is skipped, blocks 5..8 in one dd
    expect(transport.commandLines).toHaveLength(1);
    expect(transport.commandLines[0]!.match(/\bdd /g)).toHaveLength(2);
    expect(progress[progress.length - 1]).toBe(6 * MiB);
  });

  it('splits command lines at the character limit', async () => {
    const disk = buildFakeDisk(['mapped', 'hole', 'hole', 'mapped', 'hole', 'hole', 'mapped'], MiB);
    const flat = join(dir, 'long-lines-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun-lines.img'));
    const transport = new LocalShellTransport(dir);
    const out = collector(disk.blockMap.size);
    await new NbdReader(transport, { maxCommandChars: 2 * flat.length + 100 }).read({ dataPath: flat, blockMap: disk.blockMap }, out.sink);
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(transport.commandLines.map((line) => line.match(/\bdd /g)!.length)).toEqual([2, 1]);
  });

  it('reads a disk in one command line when the batch allows', async () => {
    const disk = buildFakeDisk(['mapped', 'hole', 'mapped', 'mapped'], 512);
    const flat = join(dir, 'one-batch-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun2.img'));
    const transport = new LocalShellTransport(dir);
    const out = collector(disk.blockMap.size);
    await new NbdReader(transport).read({ dataPath: flat, blockMap: disk.blockMap }, out.sink);
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(transport.commandLines.length).toBe(1);
  });

  it('hands the sink 1 MiB chunks aligned on 1 MiB, whatever size the packets have', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'mapped', 'hole', 'mapped'], 3 * 512);
    const flat = join(dir, 'chunked-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun-chunks.img'));
    const out = collector(disk.blockMap.size);
    const lengths: number[] = [];
    await new NbdReader(new LocalShellTransport(dir)).read({ dataPath: flat, blockMap: disk.blockMap }, (offset, chunk) => {
      lengths.push(chunk.length);
      out.sink(offset, chunk);
    });
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(out.offsets).toEqual([0, MiB, 2 * MiB, 4 * MiB]);
    expect(lengths).toEqual([MiB, MiB, MiB, 3 * 512]);
  });

  it('with chunkSize 0 hands over the wanted bytes of each packet as they come, holes read through dropped', async () => {
    const disk = buildFakeDisk(['mapped', 'hole', 'mapped', 'hole', 'hole', 'mapped'], MiB);
    const flat = join(dir, 'packets-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun-packets.img'));
    const out = collector(disk.blockMap.size);
    const pieces: Array<[number, number]> = [];
    await new NbdReader(new LocalShellTransport(dir), { chunkSize: 0 }).read({ dataPath: flat, blockMap: disk.blockMap }, (offset, chunk) => {
      pieces.push([offset, chunk.length]);
      out.sink(offset, chunk);
    });
    expect(out.image.equals(disk.expected)).toBe(true);
    expect(pieces.length).toBeGreaterThan(3);
    expect(pieces.every(([offset, length]) => offset + length <= MiB || (offset >= 2 * MiB && offset + length <= 3 * MiB) || offset >= 5 * MiB)).toBe(true);
    expect(pieces.reduce((n, [, length]) => n + length, 0)).toBe(3 * MiB);
  });

  it('reports a short read naming the file and offset', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'mapped'], MiB);
    const flat = join(dir, 'truncated-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'nbd-lun3.img'));
    truncateSync(flat, 2 * MiB + 4096);
    const error = await new NbdReader(new LocalShellTransport(dir))
      .read({ dataPath: flat, blockMap: disk.blockMap }, () => {})
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).toContain(`short read from ${flat} at offset ${2 * MiB + 4096}`);
  });

  it('fails with the dd error when the file is missing', async () => {
    const disk = buildFakeDisk(['mapped'], MiB);
    const error = await new NbdReader(new LocalShellTransport(dir))
      .read({ dataPath: join(dir, 'no such-flat.vmdk'), blockMap: disk.blockMap }, () => {})
      .catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(/reading .*no such-flat\.vmdk with dd failed \(exit 1\)/);
  });
});
