// SessionReader and its dd loops: against a real sh and dd (the loop's own shell text), and over SSH to the simulated host.

import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionReader } from '../../src/vlun/index.js';
import { DdSession, loopLine } from '../../src/vlun/dd-session.js';
import type { BlockMap } from '../../src/esx/parse/block-map.js';
import { connectSsh, TransportError, withReconnect, type SshTransport } from '../../src/transport/index.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { smallInventory, waitUntil } from '../sim/integration/helpers.js';
import { buildFakeDisk, collector, KINDS, TAIL, MiB, writeFakeFiles, type BlockKind } from './fake-host.js';
import { LocalShellTransport } from './local-shell-transport.js';


let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'session-reader-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The block map cut to [from, to) of the disk (what the disk view asks the reader for: a few chunks at a time). */
function part(map: BlockMap, from: number, to: number): BlockMap {
  const extents = map.extents
    .filter((e) => e.fileOffset < to && e.fileOffset + e.length > from)
    .map((e) => {
      const start = Math.max(e.fileOffset, from);
      const end = Math.min(e.fileOffset + e.length, to);
      return { ...e, fileOffset: start, length: end - start, ...(e.lunOffset !== undefined ? { lunOffset: e.lunOffset + start - e.fileOffset } : {}) };
    });
  return { ...map, extents };
}

describe('SessionReader over a real sh and dd', () => {
  const nasty = `it's a "vm" $(touch pwned) dir`;

  it('answers many reads, several at once, through a few long-lived loops, with awkward path characters', async () => {
    const vmDir = join(dir, nasty);
    mkdirSync(vmDir);
    const disk = buildFakeDisk(KINDS, TAIL);
    const flat = join(vmDir, `disk "0" $(id); x-flat.vmdk`);
    writeFakeFiles(disk, flat, join(dir, 'lun.img'));
    const transport = new LocalShellTransport(dir);
    const reader = new SessionReader(transport, { sessionsPerFile: 2 });
    try {
      const out = collector(disk.blockMap.size);
      // Every 1 MiB block asked for on its own, all at once, the unaligned tail too.
      const size = disk.blockMap.size;
      const reads = [];
      for (let at = 0; at < size; at += MiB) reads.push(reader.read({ dataPath: flat, blockMap: part(disk.blockMap, at, Math.min(size, at + MiB)) }, out.sink));
      await Promise.all(reads);
      expect(out.image.equals(disk.expected)).toBe(true);
      // Again, one read over the whole disk, on the loops already open.
      const again = collector(size);
      await reader.read({ dataPath: flat, blockMap: disk.blockMap }, again.sink);
      expect(again.image.equals(disk.expected)).toBe(true);
      expect(existsSync(join(dir, 'pwned'))).toBe(false);
      expect(transport.commandLines.length).toBeGreaterThanOrEqual(1);
      expect(transport.commandLines.length).toBeLessThanOrEqual(2);
      expect(new Set(transport.commandLines)).toEqual(new Set([loopLine(flat)]));
    } finally {
      await reader.close();
    }
    expect(reader.openSessions).toBe(0);
  });

  it('hands the sink the data in file order, holes read through dropped, and counts progress in data bytes', async () => {
    const kinds: BlockKind[] = ['mapped', 'hole', 'mapped', 'unzeroed', 'hole', 'mapped', 'hole', 'mapped', 'mapped'];
    const disk = buildFakeDisk(kinds, MiB);
    const flat = join(dir, 'gaps-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'lun-gaps.img'));
    const reader = new SessionReader(new LocalShellTransport(dir));
    try {
      const out = collector(disk.blockMap.size);
      const progress: number[] = [];
      let last = -1;
      await reader.read({ dataPath: flat, blockMap: disk.blockMap }, (offset, chunk) => {
        expect(offset).toBeGreaterThan(last);
        last = offset;
        out.sink(offset, chunk);
      }, { onProgress: (n) => progress.push(n) });
      expect(out.image.equals(disk.expected)).toBe(true);
      expect(progress[progress.length - 1]).toBe(5 * MiB);
    } finally {
      await reader.close();
    }
  });

  it('ends a loop left idle, and opens a new one for the next read', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped'], MiB);
    const flat = join(dir, 'idle-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'lun-idle.img'));
    const transport = new LocalShellTransport(dir);
    const reader = new SessionReader(transport, { idleMs: 100 });
    try {
      await reader.read({ dataPath: flat, blockMap: disk.blockMap }, () => {});
      expect(reader.openSessions).toBe(1);
      await waitUntil(() => reader.openSessions === 0, 'the idle loop to end');
      const out = collector(disk.blockMap.size);
      await reader.read({ dataPath: flat, blockMap: disk.blockMap }, out.sink);
      expect(out.image.equals(disk.expected)).toBe(true);
      expect(transport.commandLines).toHaveLength(2);
    } finally {
      await reader.close();
    }
  });

  it('a dd that fails ends its loop; the read is asked again on its own and fails with the host\'s own message', async () => {
    const disk = buildFakeDisk(['mapped'], MiB);
    const missing = join(dir, 'no such-flat.vmdk');
    const transport = new LocalShellTransport(dir);
    const reader = new SessionReader(transport);
    try {
      const error = await reader.read({ dataPath: missing, blockMap: disk.blockMap }, () => {}).catch((e: unknown) => e as Error);
      expect((error as Error).message).toMatch(/reading .*no such-flat\.vmdk with dd failed \(exit 1\): .*No such file or directory/);
      expect(transport.commandLines[0]).toBe(loopLine(missing));
      expect(transport.commandLines[1]).toMatch(/^dd /);
    } finally {
      await reader.close();
    }
  });

  it('a file shorter than its map: the stalled loop is given up and the read fails naming the offset, no hang', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'mapped'], MiB);
    const flat = join(dir, 'truncated-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'lun-short.img'));
    truncateSync(flat, 2 * MiB + 4096);
    const reader = new SessionReader(new LocalShellTransport(dir), { stallMs: 300 });
    try {
      const error = await reader.read({ dataPath: flat, blockMap: disk.blockMap }, () => {}).catch((e: unknown) => e as Error);
      expect((error as Error).message).toContain(`short read from ${flat} at offset ${2 * MiB + 4096}`);
    } finally {
      await reader.close();
    }
  });

  it('the loop notices bytes out of place instead of handing them on as data', async () => {
    // A fake host that answers the first request with the wrong end line.
    const transport = new LocalShellTransport(dir);
    const liar = { ...transport, stream: (_line: string, opts = {}) => transport.stream(`read -r x; head -c 512 /dev/zero; echo "vcbmounter-dd 99"; cat >/dev/null`, opts) };
    const session = new DdSession(liar as unknown as LocalShellTransport, '/x', 5_000, 5_000);
    const error = await session.request({ offset: 0, length: 512, blockSize: 512, skip: 0, count: 1 }, () => {}).catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(/lost its place: after the 512 bytes at offset 0 it expected "vcbmounter-dd 1", not "vcbmounter-dd 99"/);
    await session.close();
    expect(session.open).toBe(false);
  });

  it('an aborted read rejects at once; the loop stays usable', async () => {
    const disk = buildFakeDisk(['mapped', 'mapped', 'mapped', 'mapped'], MiB);
    const flat = join(dir, 'abort-flat.vmdk');
    writeFakeFiles(disk, flat, join(dir, 'lun-abort.img'));
    const reader = new SessionReader(new LocalShellTransport(dir), { sessionsPerFile: 1 });
    try {
      const controller = new AbortController();
      const got: number[] = [];
      const reading = reader.read({ dataPath: flat, blockMap: disk.blockMap }, (offset) => void got.push(offset), { signal: controller.signal });
      controller.abort(new Error('stop here'));
      await expect(reading).rejects.toThrow('stop here');
      const out = collector(disk.blockMap.size);
      await reader.read({ dataPath: flat, blockMap: disk.blockMap }, out.sink);
      expect(out.image.equals(disk.expected)).toBe(true);
      expect(got).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});

describe('SessionReader over SSH to the simulated host', () => {
  let sim: Simulator;
  let transport: SshTransport;
  let path: string;
  let content: Buffer;
  let blockMap: BlockMap;

  beforeAll(async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'loops', power: 'off', disks: [{ size: '8M', thin: false, fillBytes: '8M' }] }]) });
    transport = await connectSsh({ host: sim.host, port: sim.port, username: 'root', password: sim.password, hostKey: { kind: 'fingerprint', fingerprint: sim.fingerprint } });
    const vm = sim.esx.vm('loops');
    content = vm.readDisk(0);
    path = vm.diskPath(0).replace(/\.vmdk$/, '-flat.vmdk');
    blockMap = { path, size: content.length, extents: [{ kind: 'mapped', fileOffset: 0, length: content.length, lunOffset: 0 }] };
  });
  afterAll(async () => {
    await transport?.close().catch(() => {});
    await sim?.stop();
  });

  it('reads the disk through loops of the host\'s own sh: one channel each, a dd per request', async () => {
    const reader = new SessionReader(transport, { sessionsPerFile: 2 });
    const from = sim.commandLog.length;
    try {
      const out = collector(content.length);
      await Promise.all([0, 2, 4, 6].map((mb) => reader.read({ dataPath: path, blockMap: part(blockMap, mb * MiB, (mb + 2) * MiB) }, out.sink)));
      expect(out.image.equals(content)).toBe(true);
    } finally {
      await reader.close();
    }
    const log = sim.commandLog.slice(from);
    const dd = log.filter((c) => c.argv[0] === 'dd');
    expect(dd).toHaveLength(4);
    expect(new Set(dd.map((c) => c.session)).size).toBeLessThanOrEqual(2);
    expect(log.filter((c) => c.argv[0] === 'read').length).toBeGreaterThanOrEqual(4);
  });

  it('a dropped connection fails the waiting reads with a lost connection, and a reconnect reads again', async () => {
    const reader = new SessionReader(transport);
    sim.faults.add({ match: '^dd ', action: 'drop', times: 1 });
    try {
      const error = await reader.read({ dataPath: path, blockMap }, () => {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).code).toBe('SOCKET');
      const out = collector(content.length);
      await withReconnect(transport, () => reader.read({ dataPath: path, blockMap }, out.sink));
      expect(out.image.equals(content)).toBe(true);
    } finally {
      sim.faults.clear();
      await reader.close();
    }
  });
});
