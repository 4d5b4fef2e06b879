// SanReader reads a LUN around this machine's page cache. A loop device plays the SAN LUN and writes to
// its backing file play the ESX host: the kernel never invalidates the loop device's cached pages for
// them, just as nothing tells a backup proxy when a host rewrites a LUN it shares.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SanReader, type LunIo } from '../../src/vlun/index.js';
import { buildFakeDisk, collector, LVID, MiB, type FakeDisk } from './fake-host.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'san-direct-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(disk: FakeDisk, lun: string, direct: boolean): Promise<{ image: Buffer; io: Array<[LunIo, string?]> }> {
  const out = collector(disk.blockMap.size);
  const io: Array<[LunIo, string?]> = [];
  await new SanReader({ [LVID]: lun }, { chunkSize: 256 * 1024, direct, onLunIo: (_path, how, reason) => io.push([how, reason]) }).read(
    { dataPath: disk.blockMap.path, blockMap: disk.blockMap },
    out.sink,
  );
  return { image: out.image, io };
}

describe('SanReader and the page cache', () => {
  it('reads what the host wrote last, where a read through the cache returns stale pages', async () => {
    const disk = buildFakeDisk(['mapped', 'hole', 'mapped', 'mapped'], MiB);
    const image = join(dir, 'lun.img');
    writeFileSync(image, disk.lunContent);
    const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    // Something else on the proxy holds the LUN open (another job's reader, a multipath daemon): the kernel
    // drops a block device's cached pages only when its last user closes it.
    const holder = openSync(loop, 'r');
    try {
      // An earlier backup through the cache leaves the LUN's pages cached on this machine.
      expect((await readAll(disk, loop, false)).image.equals(disk.expected)).toBe(true);

      // The host rewrites the first disk block on the LUN behind the proxy's back.
      const first = disk.blockMap.extents[0]!;
      const rewritten = Buffer.alloc(first.length, 0x5a);
      const fd = openSync(image, 'r+');
      try {
        writeSync(fd, rewritten, 0, rewritten.length, first.lunOffset!);
      } finally {
        closeSync(fd);
      }
      const now = Buffer.from(disk.expected);
      rewritten.copy(now, first.fileOffset);

      const cached = await readAll(disk, loop, false);
      expect(cached.io).toEqual([['cached', 'direct reads are turned off']]);
      // The premise: the cache still holds the old bytes (without it this test could not tell the reads apart).
      expect(cached.image.equals(disk.expected)).toBe(true);

      const direct = await readAll(disk, loop, true);
      expect(direct.io).toEqual([['direct', undefined]]);
      expect(direct.image.equals(now)).toBe(true);
    } finally {
      closeSync(holder);
      execFileSync('losetup', ['--detach', loop]);
    }
  });

  it('reads an unaligned tail through the cache and the rest directly, the bytes all right', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'hole', 'mapped'], 3 * 512 + 64 * 1024);
    const lun = join(dir, 'tail.img');
    writeFileSync(lun, disk.lunContent);
    const { image, io } = await readAll(disk, lun, true);
    expect(image.equals(disk.expected)).toBe(true);
    // tmpdir's file system may not take O_DIRECT; either way the reader says how it read.
    expect(io.length).toBe(1);
    expect(['direct', 'cached']).toContain(io[0]![0]);
  });

  it('without page-aligned memory (node --jitless has no WebAssembly), falls back to the cache when a direct read is refused', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'mapped', 'hole', 'mapped'], MiB);
    const lun = join(dir, 'jitless.img');
    writeFileSync(lun, disk.lunContent);
    writeFileSync(join(dir, 'map.json'), JSON.stringify(disk.blockMap));
    const script = `
      import { readFileSync } from 'node:fs';
      import { SanReader } from ${JSON.stringify(new URL('../../dist/vlun/index.js', import.meta.url).href)};
      const map = JSON.parse(readFileSync(process.argv[1], 'utf8'));
      const image = Buffer.alloc(map.size);
      const io = [];
      await new SanReader({ ${JSON.stringify(LVID)}: process.argv[2] }, { onLunIo: (_p, how, reason) => io.push([how, reason]) })
        .read({ dataPath: map.path, blockMap: map }, (offset, chunk) => { chunk.copy(image, offset); });
      process.stdout.write(JSON.stringify({ io, image: image.toString('base64') }));
    `;
    const r = await execa(process.execPath, ['--jitless', '--input-type=module', '-e', script, join(dir, 'map.json'), lun]);
    const { io, image } = JSON.parse(r.stdout) as { io: Array<[LunIo, string?]>; image: string };
    expect(Buffer.from(image, 'base64').equals(disk.expected)).toBe(true);
    const opened = io[0]![0];
    if (opened === 'direct') {
      // The file system took O_DIRECT; the first read into unaligned memory was refused.
      expect(io[1]![0]).toBe('cached');
      expect(io[1]![1]).toMatch(/direct read was refused \(EINVAL.*\); reading the rest through the page cache/);
    } else {
      expect(io).toEqual([['cached', 'its file system refuses O_DIRECT']]);
    }
  });
});
