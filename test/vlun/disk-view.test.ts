// SnapshotDiskView over the real readers against the simulated host: NbdReader through SSH and dd, SanReader from the LUN image.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEsxHost, type EsxHost } from '../../src/esx/index.js';
import type { BlockMap, DiskExtent } from '../../src/esx/parse/block-map.js';
import type { SimVm } from '../../src/sim/esx/vm.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { connectSsh, type SshTransport } from '../../src/transport/index.js';
import { clipBlockMap } from '../../src/vlun/clip-block-map.js';
import { SnapshotDiskView, type SnapshotDiskViewOptions } from '../../src/vlun/disk-view.js';
import { fetchFileByCat, NbdReader, SanReader, SessionReader, type DiskReader } from '../../src/vlun/index.js';
import { planDisks, type ExportDiskPlan } from '../../src/workflow/disk-plan.js';
import { smallInventory, waitUntil } from '../sim/integration/helpers.js';
import { seededRandom } from '../../src/sim/faults.js';
import type { BlockSource } from '../../src/nbd/index.js';

const MiB = 1024 * 1024;
const KiB = 1024;


/** Pattern bytes no two writes share, so a byte from the wrong layer shows. */
function pattern(length: number, seed: number): Buffer {
  const next = seededRandom(seed);
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4) b.writeUInt32LE((next() * 2 ** 32) >>> 0, i);
  return b;
}

// ---------------------------------------------------------------------------------------------------------------

describe('clipBlockMap', () => {
  const lvid = { lvid: 'L', volumeUuid: 'U', lvmExtent: 1 };
  const map: BlockMap = {
    path: '/vmfs/volumes/ds/vm/vm-flat.vmdk',
    size: 5 * MiB + 4096,
    extents: [
      { fileOffset: 0, length: MiB, kind: 'mapped', lunOffset: 40 * MiB, ...lvid },
      { fileOffset: MiB, length: 2 * MiB, kind: 'hole' },
      { fileOffset: 3 * MiB, length: MiB, kind: 'unzeroed', lunOffset: 7 * MiB, ...lvid },
      { fileOffset: 4 * MiB, length: MiB + 4096, kind: 'mapped', lunOffset: 9 * MiB, ...lvid },
    ],
  };

  it('cuts the extents at the range ends and moves a cut extent\'s LUN offset with its start', () => {
    const clipped = clipBlockMap(map, MiB - 512, 3 * MiB + 1024 + 512);
    expect(clipped.path).toBe(map.path);
    expect(clipped.size).toBe(map.size);
    expect(clipped.extents).toEqual([
      { fileOffset: MiB - 512, length: 512, kind: 'mapped', lunOffset: 41 * MiB - 512, ...lvid },
      { fileOffset: MiB, length: 2 * MiB, kind: 'hole' },
      { fileOffset: 3 * MiB, length: MiB, kind: 'unzeroed', lunOffset: 7 * MiB, ...lvid },
      { fileOffset: 4 * MiB, length: 1024, kind: 'mapped', lunOffset: 9 * MiB, ...lvid },
    ]);
    expect(clipBlockMap(map, 4 * MiB + 100, 200).extents).toEqual([{ fileOffset: 4 * MiB + 100, length: 200, kind: 'mapped', lunOffset: 9 * MiB + 100, ...lvid }]);
  });

  it('gives nothing for an empty range or one past the end, and never reaches past the file', () => {
    expect(clipBlockMap(map, MiB, 0).extents).toEqual([]);
    expect(clipBlockMap(map, map.size, MiB).extents).toEqual([]);
    expect(clipBlockMap(map, 5 * MiB, 10 * MiB).extents).toEqual([{ fileOffset: 5 * MiB, length: 4096, kind: 'mapped', lunOffset: 10 * MiB, ...lvid }]);
    expect(() => clipBlockMap(map, -1, 10)).toThrow(RangeError);
  });

  it('agrees with cutting every extent by hand, over many extents and ranges', () => {
    const next = seededRandom(3);
    const extents: DiskExtent[] = [];
    let at = 0;
    for (let i = 0; i < 500; i++) {
      const length = 512 * (1 + Math.floor(next() * 64));
      const kind = (['mapped', 'hole', 'unzeroed'] as const)[Math.floor(next() * 3)]!;
      extents.push(kind === 'hole' ? { fileOffset: at, length, kind } : { fileOffset: at, length, kind, lunOffset: 3 * at + 4096, ...lvid });
      at += length;
    }
    const big: BlockMap = { path: 'p', size: at, extents };
    for (let i = 0; i < 300; i++) {
      const offset = Math.floor(next() * at);
      const length = Math.floor(next() * Math.min(at - offset, 200 * KiB));
      const byHand = extents
        .filter((e) => e.fileOffset < offset + length && e.fileOffset + e.length > offset)
        .map((e) => {
          const from = Math.max(offset, e.fileOffset);
          const to = Math.min(offset + length, e.fileOffset + e.length);
          return e.lunOffset === undefined ? { ...e, fileOffset: from, length: to - from } : { ...e, fileOffset: from, length: to - from, lunOffset: e.lunOffset + from - e.fileOffset };
        });
      expect(clipBlockMap(big, offset, length).extents).toEqual(byHand);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------

/** A thin disk whose size is no multiple of a chunk: data at the start, islands of data in holes, data in the last bytes. */
const PLAIN_SIZE = 13 * MiB + 68 * KiB;
/** Written before our snapshot: [offset, length, seed]. */
const PLAIN_WRITES: Array<[number, number, number]> = [
  [6 * MiB + 100 * KiB, 300 * KiB, 1],
  [9 * MiB - 4096, 8192, 2],
  [PLAIN_SIZE - 20 * KiB, 20 * KiB, 3],
];
const FULL_SIZE = 16 * MiB;

interface Bench {
  sim: Simulator;
  transport: SshTransport;
  esx: EsxHost;
  lunMap: Record<string, string>;
  work: string;
}

let bench: Bench;

beforeAll(async () => {
  const sim = await startSimulator({
    inventory: smallInventory([
      { name: 'plain', power: 'off', disks: [{ size: PLAIN_SIZE, thin: true, fillBytes: '3M' }] },
      { name: 'full', power: 'off', disks: [{ size: FULL_SIZE, thin: true, fillBytes: FULL_SIZE }] },
      { name: 'layered', power: 'off', disks: [{ size: '12M', thin: true, fillBytes: '5M' }] },
    ]),
  });
  const transport = await connectSsh({
    host: sim.host,
    port: sim.port,
    username: 'root',
    password: sim.password,
    hostKey: { kind: 'fingerprint', fingerprint: sim.fingerprint },
  });
  const ds = sim.esx.vfs.datastores()[0]!;
  bench = { sim, transport, esx: await connectEsxHost(transport), lunMap: { [ds.lvid]: ds.lunPath }, work: mkdtempSync(join(tmpdir(), 'disk-view-')) };
});

afterAll(async () => {
  await bench?.transport.close().catch(() => {});
  await bench?.sim.stop();
  if (bench) rmSync(bench.work, { recursive: true, force: true });
});

const snapshotOptions = (name: string) => ({ name, description: '', memory: false, quiesce: false });

/**
 * What a backup run does before it serves a disk: plans the disks (before the snapshot, as the run does), takes
 * our snapshot, reads the base's block map. Returns the plan and the disk as of the snapshot; `afterSnapshot`
 * writes to the VM once the snapshot is taken (those bytes must not show).
 */
async function snapshotDisk(vm: SimVm, afterSnapshot: (vm: SimVm) => void = () => {}): Promise<{ plan: ExportDiskPlan; atSnapshot: Buffer }> {
  const ref = (await bench.esx.listVms()).find((r) => r.name === vm.name)!;
  const { disks } = await planDisks(bench.esx, ref);
  expect(disks).toHaveLength(1);
  const plan = disks[0]!;
  await vm.createSnapshot(snapshotOptions('_VCB-BACKUP_'));
  const atSnapshot = vm.readDisk(0);
  afterSnapshot(vm);
  expect(vm.readDisk(0).equals(atSnapshot)).toBe(false);
  plan.blockMap = await bench.esx.blockMap(plan.base);
  return { plan, atSnapshot };
}

/** Scribbles over the whole disk after our snapshot (into our delta). */
function scribble(vm: SimVm): void {
  const size = vm.spec.disks[0]!.size;
  for (let at = 0; at < size; at += 2 * MiB) vm.chain(0).write(pattern(64 * KiB, 900 + at / MiB), at);
}

const readers: Array<[string, () => DiskReader]> = [
  ['nbd', () => new NbdReader(bench.transport)],
  // The export's nbd reader hands over SSH packets as they come (chunkSize 0): pieces cross chunk boundaries.
  ['nbd (packets)', () => new NbdReader(bench.transport, { chunkSize: 0 })],
  ['san', () => new SanReader(bench.lunMap, { chunkSize: 256 * KiB, readAhead: 1 })],
  // The disk server's: long-lived dd loops (ended soon after each test, so counts of later tests are their own).
  ['session', () => new SessionReader(bench.transport, { idleMs: 100 })],
];

/** Remote command lines that ran dd since `from` in the command log (one SSH session each). */
function ddLines(from: number): number {
  return new Set(bench.sim.commandLog.slice(from).filter((c) => c.argv[0] === 'dd').map((c) => c.session)).size;
}

/**
 * ddLines once at least `least` have ended: the host logs a command when it ends, and the view hands a chunk
 * out as soon as its bytes are in, which can be before the dd that sent them has ended.
 */
async function ddLinesEnded(from: number, least: number): Promise<number> {
  await waitUntil(() => ddLines(from) >= least, `${least} dd command lines to end`);
  return ddLines(from);
}

/**
 * A dd a fault held up ends when the view's close drops its channel, and is logged then: waits for it, so that
 * later tests count only their own commands.
 */
function faultedDdEnded(from: number): Promise<void> {
  return waitUntil(() => bench.sim.commandLog.slice(from).some((c) => c.argv[0] === 'dd' && c.fault !== undefined), 'the held-up dd to end');
}

function viewOf(plan: ExportDiskPlan, reader: DiskReader, extra: Partial<SnapshotDiskViewOptions> = {}): SnapshotDiskView {
  return new SnapshotDiskView({ reader, source: { dataPath: plan.baseData, blockMap: plan.blockMap! }, capacity: plan.capacity, ...extra });
}

/** Unaligned requests anywhere: across chunk boundaries, at the very end, single bytes, whole chunks. */
function randomRequests(size: number, count: number, seed: number, chunk: number): Array<[number, number]> {
  const next = seededRandom(seed);
  const requests: Array<[number, number]> = [
    [0, 1],
    [size - 1, 1],
    [size - 3 * chunk - 7, 3 * chunk + 7],
    [chunk - 1, 2],
    [2 * chunk - 100, chunk + 300],
  ];
  for (let i = 0; i < count; i++) {
    const offset = Math.floor(next() * size);
    const length = Math.min(size - offset, 1 + Math.floor(next() * (next() < 0.2 ? 3 * chunk : 64 * KiB)));
    requests.push([offset, length]);
  }
  return requests;
}

async function expectRequests(view: BlockSource, disk: Buffer, requests: Array<[number, number]>): Promise<void> {
  for (const [offset, length] of requests) {
    const got = await view.readAt(offset, length);
    expect(got.length).toBe(length);
    if (!got.equals(disk.subarray(offset, offset + length))) expect.fail(`bytes differ at ${offset}+${length}`);
  }
}

describe('SnapshotDiskView of a disk with holes', () => {
  let plan: ExportDiskPlan;
  let disk: Buffer;

  beforeAll(async () => {
    const vm = bench.sim.esx.vm('plain');
    for (const [offset, length, seed] of PLAIN_WRITES) vm.chain(0).write(pattern(length, seed), offset);
    ({ plan, atSnapshot: disk } = await snapshotDisk(vm, scribble));
    // The premises: holes the view must not read, and a size no multiple of a chunk.
    expect(plan.blockMap!.extents.some((e) => e.kind === 'hole')).toBe(true);
    expect(plan.capacity).toBe(PLAIN_SIZE);
    expect(disk.subarray(PLAIN_SIZE - 20 * KiB).equals(pattern(20 * KiB, 3))).toBe(true);
  });

  it.each(readers)('%s: random reads, unaligned, across chunks and at the end, are the disk at the snapshot', async (_name, reader) => {
    const view = viewOf(plan, reader(), { chunkBytes: 256 * KiB, cacheChunks: 8, readAheadChunks: 3 });
    try {
      const view_: BlockSource = view;
      expect(view_.size).toBe(PLAIN_SIZE);
      await expectRequests(view, disk, randomRequests(PLAIN_SIZE, 150, 7, 256 * KiB));
      // Concurrent requests, as the kernel sends them, on a fresh view with the default chunks.
      const fresh = viewOf(plan, reader());
      try {
        const requests = randomRequests(PLAIN_SIZE, 60, 8, MiB);
        const got = await Promise.all(requests.map(([o, l]) => fresh.readAt(o, l)));
        requests.forEach(([o, l], i) => expect(got[i]!.equals(disk.subarray(o, o + l)), `${o}+${l}`).toBe(true));
      } finally {
        await fresh.close();
      }
      await expect(view.readAt(PLAIN_SIZE - 10, 11)).rejects.toThrow(RangeError);
      expect((await view.readAt(PLAIN_SIZE, 0)).length).toBe(0);
    } finally {
      await view.close();
    }
  });

  it('reads chunks that are all hole as zeros without a remote command; a chunk with data costs one', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: MiB });
    try {
      // Chunks 4, 5 and 10 hold no data (the block map says hole or unzeroed).
      for (const chunk of [4, 5, 10]) {
        expect(clipBlockMap(plan.blockMap!, chunk * MiB, MiB).extents.every((e) => e.kind !== 'mapped')).toBe(true);
      }
      const from = bench.sim.commandLog.length;
      expect((await view.readAt(4 * MiB + 123, MiB + 1000)).equals(Buffer.alloc(MiB + 1000))).toBe(true);
      expect((await view.readAt(10 * MiB, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
      expect(ddLines(from)).toBe(0);
      expect(view.stats().remoteReads).toBe(0);
      // Chunk 6 has the island of data: one command line, then it is cached.
      expect((await view.readAt(6 * MiB + 100 * KiB, 4096)).equals(disk.subarray(6 * MiB + 100 * KiB, 6 * MiB + 104 * KiB))).toBe(true);
      expect((await view.readAt(6 * MiB + 200 * KiB, 4096)).equals(disk.subarray(6 * MiB + 200 * KiB, 6 * MiB + 204 * KiB))).toBe(true);
      expect(view.stats()).toMatchObject({ remoteReads: 1, cacheHits: 1 });
      expect(await ddLinesEnded(from, 1)).toBe(1);
    } finally {
      await view.close();
    }
  });

  it('a read of a missing host file rejects naming the file and offset', async () => {
    const missing = `${plan.baseData.replace(/-flat\.vmdk$/, '')}-gone-flat.vmdk`;
    const view = new SnapshotDiskView({ reader: new NbdReader(bench.transport), source: { dataPath: missing, blockMap: plan.blockMap! }, capacity: plan.capacity });
    try {
      const error = (await view.readAt(100, 10).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(Error);
      expect(error.message).toContain(missing);
      expect(error.message).toMatch(/at offset 0\b/);
    } finally {
      await view.close();
    }
  });
});

describe('SnapshotDiskView of a disk full of data', () => {
  let plan: ExportDiskPlan;
  let disk: Buffer;

  beforeAll(async () => {
    ({ plan, atSnapshot: disk } = await snapshotDisk(bench.sim.esx.vm('full'), scribble));
    expect(plan.blockMap!.extents.every((e) => e.kind === 'mapped')).toBe(true);
  });

  it.each(readers)('%s: a sequential read in 128 KiB requests costs a few batched reads, not one per request', async (_name, reader) => {
    const chunk = MiB;
    const ahead = 8;
    const view = viewOf(plan, reader(), { chunkBytes: chunk, readAheadChunks: ahead });
    const from = bench.sim.commandLog.length;
    try {
      const request = 128 * KiB;
      for (let at = 0; at < FULL_SIZE; at += request) {
        if (!(await view.readAt(at, request)).equals(disk.subarray(at, at + request))) expect.fail(`bytes differ at ${at}`);
      }
      // The first request fetches its chunk; read-ahead fetches the next `ahead` at once, then at least half
      // a window each time the reader has used half of what is ahead.
      const chunks = FULL_SIZE / chunk;
      const bound = 2 + Math.ceil((chunks - 1 - ahead) / Math.ceil(ahead / 2));
      const { remoteReads, bytesFetched } = view.stats();
      expect(FULL_SIZE / request).toBe(128);
      expect(remoteReads).toBeLessThanOrEqual(bound);
      expect(bytesFetched).toBe(FULL_SIZE);
    } finally {
      await view.close();
    }
    // Closing waits for every fetch, so every dd has ended: one command line per remote read.
    if (_name.startsWith('nbd')) expect(ddLines(from)).toBe(view.stats().remoteReads);
  });

  it('without read-ahead the same read costs one remote read per chunk (what read-ahead saves)', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: MiB, readAheadChunks: 0 });
    try {
      for (let at = 0; at < FULL_SIZE; at += 128 * KiB) await view.readAt(at, 128 * KiB);
      expect(view.stats().remoteReads).toBe(FULL_SIZE / MiB);
    } finally {
      await view.close();
    }
  });

  it('read-ahead runs in the background: a request does not wait for the chunks fetched ahead of it', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: MiB, readAheadChunks: 8 });
    const from = bench.sim.commandLog.length;
    // dd of the chunks ahead (skip 1.. in 1 MiB blocks) is slow; dd of chunk 0 is not.
    const rule = bench.sim.faults.add({ match: '^dd .* skip=[1-9]', action: 'hang' });
    try {
      const first = await Promise.race([
        view.readAt(0, 128 * KiB),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the request waited for the read-ahead')), 5_000)),
      ]);
      expect(first.equals(disk.subarray(0, 128 * KiB))).toBe(true);
      expect(view.stats().remoteReads).toBe(2);
    } finally {
      await view.close();
      await faultedDdEnded(from);
      bench.sim.faults.clear();
    }
    expect(rule).toBeGreaterThanOrEqual(0);
  });

  it.each(readers.slice(0, 2))('%s: a request waiting on a chunk read ahead gets it once it is in, not when the whole batch is', async (_name, reader) => {
    const view = viewOf(plan, reader(), { chunkBytes: MiB, readAheadChunks: 8 });
    const from = bench.sim.commandLog.length;
    // The read-ahead's dd (chunks 1..8) trickles at 4 MiB/s: all of it takes 2 s, its first chunk a quarter of that.
    bench.sim.faults.add({ match: '^dd .* skip=[1-9]', action: 'slow', bytesPerSecond: 4 * MiB });
    try {
      await view.readAt(0, 128 * KiB);
      expect(view.stats()).toMatchObject({ remoteReads: 2, fetchingChunks: 8 });
      expect((await view.readAt(MiB, 128 * KiB)).equals(disk.subarray(MiB, MiB + 128 * KiB))).toBe(true);
      expect(view.stats().fetchingChunks).toBeGreaterThan(0);
    } finally {
      await view.close();
      await faultedDdEnded(from);
      bench.sim.faults.clear();
    }
  });

  it('concurrent requests for one chunk share one fetch; a request spanning chunks is one remote read', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: MiB, readAheadChunks: 0 });
    try {
      let from = bench.sim.commandLog.length;
      const offsets = Array.from({ length: 10 }, (_, i) => 5 * MiB + i * 70 * KiB + 3);
      const got = await Promise.all(offsets.map((o) => view.readAt(o, 4000)));
      offsets.forEach((o, i) => expect(got[i]!.equals(disk.subarray(o, o + 4000))).toBe(true));
      expect(view.stats()).toMatchObject({ remoteReads: 1, sharedFetches: 9 });
      expect(await ddLinesEnded(from, 1)).toBe(1);

      // Chunks 8..11 at once, then 7..12 around them: each request one command line.
      from = bench.sim.commandLog.length;
      expect((await view.readAt(8 * MiB + 1, 3 * MiB + 10)).equals(disk.subarray(8 * MiB + 1, 11 * MiB + 11))).toBe(true);
      expect(view.stats().remoteReads).toBe(2);
      expect(await ddLinesEnded(from, 1)).toBe(1);
      expect((await view.readAt(7 * MiB + 5, 5 * MiB + 10)).equals(disk.subarray(7 * MiB + 5, 12 * MiB + 15))).toBe(true);
      expect(view.stats().remoteReads).toBe(3);
      expect(await ddLinesEnded(from, 2)).toBe(2);
      expect(view.stats().bytesFetched).toBe(MiB + 4 * MiB + 2 * MiB);
    } finally {
      await view.close();
    }
  });

  it('keeps at most cacheChunks chunks, however much of the disk is read', async () => {
    const cacheChunks = 6;
    const ahead = 4;
    const chunk = 256 * KiB;
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: chunk, cacheChunks, readAheadChunks: ahead });
    try {
      const requests: Array<[number, number]> = [];
      for (let at = 0; at < FULL_SIZE; at += 128 * KiB) requests.push([at, 128 * KiB]);
      requests.push(...randomRequests(FULL_SIZE, 100, 11, chunk).filter(([, l]) => l <= chunk));
      for (const [offset, length] of requests) {
        if (!(await view.readAt(offset, length)).equals(disk.subarray(offset, offset + length))) expect.fail(`bytes differ at ${offset}+${length}`);
        expect(view.stats().cachedChunks).toBeLessThanOrEqual(cacheChunks);
      }
      const stats = view.stats();
      expect(stats.peakCachedChunks).toBe(cacheChunks);
      // Cached, being read ahead, and the two chunks a request can span: nothing grows with the disk.
      expect(stats.peakChunkBuffers).toBeLessThanOrEqual(cacheChunks + ahead + 2);
      // Chunks were dropped and read again: the disk (64 chunks) did not stay in memory.
      expect(stats.bytesFetched).toBeGreaterThan(FULL_SIZE);
    } finally {
      await view.close();
    }
  });

  it('a failed fetch rejects every request waiting on it with the file and offset, and is not kept: the next read succeeds', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: MiB, readAheadChunks: 0 });
    bench.sim.faults.add({ match: '^dd ', action: 'fail', times: 1, exitCode: 1, stderr: 'dd: read error: Input/output error' });
    try {
      const both = await Promise.allSettled([view.readAt(3 * MiB + 10, 100), view.readAt(3 * MiB + 5000, 100)]);
      for (const r of both) {
        expect(r.status).toBe('rejected');
        const message = ((r as PromiseRejectedResult).reason as Error).message;
        expect(message).toContain(plan.baseData);
        expect(message).toMatch(/at offset 3145728\b/);
        expect(message).toContain('Input/output error');
      }
      expect(view.stats()).toMatchObject({ remoteReads: 1, cachedChunks: 0 });
      expect(bench.sim.faults.fired).toHaveLength(1);
      expect((await view.readAt(3 * MiB + 10, 100)).equals(disk.subarray(3 * MiB + 10, 3 * MiB + 110))).toBe(true);
      expect(view.stats()).toMatchObject({ remoteReads: 2, cachedChunks: 1 });
    } finally {
      await view.close();
      bench.sim.faults.clear();
    }
  });

  it('an aborted request rejects with the reason; the fetch it started completes for the others', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { chunkBytes: MiB, readAheadChunks: 0 });
    try {
      const controller = new AbortController();
      const aborted = view.readAt(14 * MiB, 100, controller.signal);
      const other = view.readAt(14 * MiB + 200, 100);
      controller.abort(new Error('client went away'));
      await expect(aborted).rejects.toThrow('client went away');
      expect((await other).equals(disk.subarray(14 * MiB + 200, 14 * MiB + 300))).toBe(true);
      expect(view.stats().remoteReads).toBe(1);
    } finally {
      await view.close();
    }
    await expect(view.readAt(0, 1)).rejects.toThrow(/closed/);
  });
});

describe('SnapshotDiskView of a disk under users\' snapshots', () => {
  let plan: ExportDiskPlan;
  let disk: Buffer;
  let deltas: string[];
  let baseOnly: Buffer;

  beforeAll(async () => {
    const vm = bench.sim.esx.vm('layered');
    baseOnly = vm.readDisk(0);
    // A COWD link, then a SEsparse one (the VM moved to VMFS6), each written after it was taken.
    await vm.createSnapshot({ ...snapshotOptions('before-upgrade'), format: 'vmfsSparse' });
    vm.chain(0).write(pattern(1536 * KiB, 21), 2 * MiB + 512 * KiB);
    vm.chain(0).write(pattern(8 * KiB, 22), 9 * MiB);
    await vm.createSnapshot({ ...snapshotOptions('after-upgrade'), format: 'seSparse' });
    vm.chain(0).write(pattern(600 * KiB, 23), 3 * MiB + 256 * KiB);
    vm.chain(0).write(Buffer.alloc(64 * KiB), 1 * MiB);
    vm.chain(0).write(pattern(4 * KiB, 24), 11 * MiB + 512 * KiB);
    ({ plan, atSnapshot: disk } = await snapshotDisk(vm, scribble));
    expect(plan.deltas.map((d) => d.format)).toEqual(['vmfsSparse', 'seSparse']);
    deltas = [];
    for (const [i, link] of plan.deltas.entries()) {
      const local = join(bench.work, `layered-${i}.delta`);
      await fetchFileByCat(bench.transport, link.data, local);
      deltas.push(local);
    }
  });

  it.each(readers)('%s: with the fetched deltas laid over, the view is the disk at our snapshot', async (_name, reader) => {
    // The premise: the deltas change what the base alone holds (else this test could not tell them apart).
    const bare = viewOf(plan, reader());
    try {
      expect((await bare.readAt(0, plan.capacity)).equals(baseOnly)).toBe(true);
    } finally {
      await bare.close();
    }
    expect(baseOnly.equals(disk)).toBe(false);

    const view = viewOf(plan, reader(), { deltas, chunkBytes: 256 * KiB, cacheChunks: 10, readAheadChunks: 4 });
    try {
      await expectRequests(view, disk, randomRequests(plan.capacity, 120, 5, 256 * KiB));
      const whole: Buffer[] = [];
      for (let at = 0; at < plan.capacity; at += 128 * KiB) whole.push(await view.readAt(at, Math.min(128 * KiB, plan.capacity - at)));
      expect(Buffer.concat(whole).equals(disk)).toBe(true);
    } finally {
      await view.close();
    }
  });

  it('a chunk the base has no data in but a delta has is read from the delta alone, without a remote command', async () => {
    const view = viewOf(plan, new NbdReader(bench.transport), { deltas, chunkBytes: MiB, readAheadChunks: 0 });
    try {
      expect(clipBlockMap(plan.blockMap!, 9 * MiB, MiB).extents.every((e) => e.kind !== 'mapped')).toBe(true);
      const from = bench.sim.commandLog.length;
      expect((await view.readAt(9 * MiB, MiB)).equals(disk.subarray(9 * MiB, 10 * MiB))).toBe(true);
      expect(disk.subarray(9 * MiB, 9 * MiB + 8 * KiB).equals(pattern(8 * KiB, 22))).toBe(true);
      expect(ddLines(from)).toBe(0);
      expect(view.stats().remoteReads).toBe(0);
    } finally {
      await view.close();
    }
  });

  it('refuses a delta that is not of this disk, naming it', () => {
    expect(() => viewOf(plan, new NbdReader(bench.transport), { deltas: [deltas[0]!], capacity: plan.capacity + 512 })).toThrow(
      new RegExp(`snapshot delta ${deltas[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is of a disk of`),
    );
  });
});
