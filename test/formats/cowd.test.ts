import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COWD_GT_ENTRIES, createCowd, isCowd, openCowd } from '../../src/formats/cowd.js';
import { buildBaseDescriptor, buildSnapshotDescriptor, formatDescriptor } from '../../src/formats/vmdk-descriptor.js';
import { FileTracker, makeTempDir, seededRandom } from './helpers.js';

const SECTOR = 512;

describe('COWD sparse delta', () => {
  let dir = '';
  const files = new FileTracker();
  beforeEach(() => {
    dir = makeTempDir('cowd');
  });
  afterEach(() => {
    files.closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the header, grain directory and freeSector that ESX and qemu expect', () => {
    const file = files.open(path.join(dir, 'x-delta.vmdk'), true);
    const disk = createCowd(file, { capacitySectors: 3 * COWD_GT_ENTRIES + 1, parentFileName: 'x.vmdk' });
    const raw = fs.readFileSync(path.join(dir, 'x-delta.vmdk'));
    const field = (offset: number): number => raw.readUInt32LE(offset);
    expect(raw.subarray(0, 4).toString('latin1')).toBe('COWD');
    expect([field(4), field(8), field(12), field(16), field(20), field(24)]).toEqual([1, 3, 3 * 4096 + 1, 1, 4, 4]);
    expect(field(28)).toBe(5);
    expect(raw.length).toBe(5 * SECTOR);
    expect(raw.subarray(32, 38).toString('latin1')).toBe('x.vmdk');
    expect(isCowd(raw)).toBe(true);
    expect(disk.capacity).toBe((3 * 4096 + 1) * SECTOR);
    expect(disk.allocatedExtents()).toEqual([]);
    expect(openCowd(file).parentFileName).toBe('x.vmdk');
  });

  it('fills partial grains from the parent and reports allocated ranges', () => {
    const file = files.open(path.join(dir, 'p-delta.vmdk'), true);
    const disk = createCowd(file, { capacitySectors: 2 * COWD_GT_ENTRIES, grainSectors: 8 });
    const parentByte = (position: number): number => (position * 7 + 3) & 0xff;
    const parent = {
      read(buf: Uint8Array, position: number) {
        for (let i = 0; i < buf.length; i++) buf[i] = parentByte(position + i);
      },
    };
    disk.write(new Uint8Array(100).fill(0xee), 5000, parent);
    const grain = 8 * SECTOR;
    expect(disk.allocatedExtents()).toEqual([{ offset: grain, length: grain }]);
    expect(disk.isAllocated(grain)).toBe(true);
    expect(disk.isAllocated(0)).toBe(false);
    expect(disk.readAllocated(0, 3 * grain)).toEqual([{ offset: grain, length: grain }]);
    expect(disk.readAllocated(4000, 1000)).toEqual([{ offset: grain, length: 5000 - grain }]);

    const view = new Uint8Array(grain);
    expect(disk.read(view, grain)).toEqual([{ offset: grain, length: grain }]);
    for (let i = 0; i < grain; i++) {
      const inWrite = grain + i >= 5000 && grain + i < 5100;
      expect(view[i]).toBe(inWrite ? 0xee : parentByte(grain + i));
    }
    const hole = new Uint8Array(grain).fill(1);
    expect(disk.read(hole, 0)).toEqual([]);
    expect(hole.every((b) => b === 0)).toBe(true);
  });

  it('survives reopening after every write, with large writes across grain tables', () => {
    const deltaPath = path.join(dir, 'r-delta.vmdk');
    const capacitySectors = 4 * COWD_GT_ENTRIES;
    const capacity = capacitySectors * SECTOR;
    const model = new Uint8Array(capacity);
    const written = new Uint8Array(capacity);
    const rng = seededRandom(3);
    createCowd(files.open(deltaPath, true), { capacitySectors });
    for (let i = 0; i < 12; i++) {
      const length = 1 + rng.int(i % 3 === 0 ? 1024 * 1024 : 5000);
      const position = i === 0 ? COWD_GT_ENTRIES * SECTOR - 10 : rng.int(capacity - length);
      const data = rng.bytes(length);
      const disk = openCowd(files.open(deltaPath));
      disk.write(data, position);
      model.set(data, position);
      written.fill(1, Math.floor(position / SECTOR) * SECTOR, Math.ceil((position + length) / SECTOR) * SECTOR);
      const stat = fs.statSync(deltaPath);
      expect(stat.size).toBe(disk.freeSector * SECTOR);
      expect(fs.readFileSync(deltaPath).readUInt32LE(28)).toBe(disk.freeSector);
    }
    const reopened = openCowd(files.open(deltaPath));
    const view = new Uint8Array(capacity);
    const ranges = reopened.read(view, 0);
    expect(Buffer.compare(view, model)).toBe(0);
    const allocated = new Uint8Array(capacity);
    for (const range of ranges) allocated.fill(1, range.offset, range.offset + range.length);
    expect(Buffer.compare(allocated, written)).toBe(0);
    expect(reopened.allocatedExtents()).toEqual(ranges);
  });

  it('reads grains qemu wrote and does not overwrite them (qemu appends without updating freeSector)', () => {
    const capacitySectors = 2 * COWD_GT_ENTRIES;
    fs.writeFileSync(path.join(dir, 'q-flat.vmdk'), '');
    fs.truncateSync(path.join(dir, 'q-flat.vmdk'), capacitySectors * SECTOR);
    const base = buildBaseDescriptor({ capacitySectors, flatFileName: 'q-flat.vmdk' });
    fs.writeFileSync(path.join(dir, 'q.vmdk'), formatDescriptor(base));
    const child = buildSnapshotDescriptor({
      capacitySectors,
      deltaFileName: 'q-000001-delta.vmdk',
      parentFileNameHint: 'q.vmdk',
      parentCid: base.cid,
    });
    fs.writeFileSync(path.join(dir, 'q-000001.vmdk'), formatDescriptor(child));
    const deltaPath = path.join(dir, 'q-000001-delta.vmdk');
    createCowd(files.open(deltaPath, true), { capacitySectors }).write(new Uint8Array(512).fill(0x11), 0);
    files.closeAll();

    execFileSync('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0x5a 1048576 4096', path.join(dir, 'q-000001.vmdk')], { stdio: 'pipe' });

    const disk = openCowd(files.open(deltaPath));
    expect(disk.readAllocated(0, disk.capacity)).toEqual([
      { offset: 0, length: 512 },
      { offset: 1048576, length: 4096 },
    ]);
    disk.write(new Uint8Array(512).fill(0x22), 2 * 1048576 - 512);
    const view = new Uint8Array(4096);
    disk.read(view, 1048576);
    expect(view.every((b) => b === 0x5a)).toBe(true);
    const first = new Uint8Array(512);
    disk.read(first, 0);
    expect(first.every((b) => b === 0x11)).toBe(true);
  });

  it('writes a large request in a handful of file writes, not one per grain', () => {
    const real = files.open(path.join(dir, 'big-delta.vmdk'), true);
    let writeCalls = 0;
    const counting = {
      size: () => real.size(),
      read: (buf: Uint8Array, position: number) => real.read(buf, position),
      truncate: (size: number) => real.truncate(size),
      write(buf: Uint8Array, position: number) {
        writeCalls++;
        real.write(buf, position);
      },
    };
    const disk = createCowd(counting, { capacitySectors: 8 * COWD_GT_ENTRIES });
    writeCalls = 0;
    disk.write(new Uint8Array(1024 * 1024).fill(3), 0);
    // one grain table, its directory entry, freeSector; then data, table entries, freeSector
    expect(writeCalls).toBe(6);
    writeCalls = 0;
    disk.write(new Uint8Array(1024 * 1024).fill(4), 1024 * 1024 - 100);
    // in place into the last grain already held, new whole grains, the new partial last grain, table entries, freeSector
    expect(writeCalls).toBeLessThanOrEqual(6);
    const check = new Uint8Array(2 * 1024 * 1024);
    disk.read(check, 0);
    expect(check.subarray(0, 1024 * 1024 - 100).every((b) => b === 3)).toBe(true);
    expect(check.subarray(1024 * 1024 - 100, 2 * 1024 * 1024 - 100).every((b) => b === 4)).toBe(true);
    expect(check.subarray(2 * 1024 * 1024 - 100).every((b) => b === 0)).toBe(true);
  });

  it('rejects files that are not COWD and ranges outside the disk', () => {
    const other = files.open(path.join(dir, 'not.vmdk'), true);
    other.write(Buffer.from('KDMV\u0001\u0000\u0000\u0000'), 0);
    expect(() => openCowd(other)).toThrow(/not a COWD/);
    const disk = createCowd(files.open(path.join(dir, 'small.vmdk'), true), { capacitySectors: 10 });
    expect(() => disk.write(new Uint8Array(2), 10 * SECTOR - 1)).toThrow(RangeError);
    expect(() => disk.read(new Uint8Array(1), -1)).toThrow(RangeError);
  });
});
