import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskChain, openChainFromDescriptor } from '../../src/formats/chain.js';
import { createCowd, openCowd } from '../../src/formats/cowd.js';
import {
  buildBaseDescriptor,
  buildSnapshotDescriptor,
  formatDescriptor,
  SECTOR_SIZE,
} from '../../src/formats/vmdk-descriptor.js';
import { FileTracker, makeTempDir, qemuImg, seededRandom } from './helpers.js';

const CAPACITY_SECTORS = 12 * 4096 + 100; // 12 grain tables' worth (2 MiB each at 1 sector/grain) plus a ragged tail
const CAPACITY = CAPACITY_SECTORS * SECTOR_SIZE;
const GT_SPAN = 4096 * SECTOR_SIZE;

type Rng = ReturnType<typeof seededRandom>;

/** Writes that are unaligned, grain-aligned, large, tiny, and across grain-table boundaries. */
function scribble(chain: DiskChain, model: Uint8Array, rng: Rng, count: number): void {
  const apply = (position: number, length: number): void => {
    const data = rng.bytes(length);
    chain.write(data, position);
    model.set(data, position);
  };
  apply(GT_SPAN - 700, 1500);
  apply(CAPACITY - 333, 333);
  apply(3 * GT_SPAN + 512, 64 * 1024);
  for (let i = 0; i < count; i++) {
    const length = 1 + rng.int(i % 4 === 0 ? 1024 * 1024 : 9000);
    const position = rng.int(CAPACITY - length);
    apply(position, length);
  }
}

function readAll(chain: DiskChain): Uint8Array {
  const out = new Uint8Array(CAPACITY);
  chain.read(out, 0);
  return out;
}

describe('DiskChain over real files, checked with qemu-img', () => {
  let dir = '';
  const files = new FileTracker();
  beforeEach(() => {
    dir = makeTempDir('chain');
  });
  afterEach(() => {
    files.closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** web01.vmdk (base) <- web01-000001.vmdk <- web01-000002.vmdk, with guest writes at each level. */
  function buildChain(rng: Rng, model: Uint8Array): { chain: DiskChain; cids: number[] } {
    const base = files.open(path.join(dir, 'web01-flat.vmdk'), true);
    base.truncate(CAPACITY);
    const baseDescriptor = buildBaseDescriptor({ capacitySectors: CAPACITY_SECTORS, flatFileName: 'web01-flat.vmdk', thin: true });
    fs.writeFileSync(path.join(dir, 'web01.vmdk'), formatDescriptor(baseDescriptor));
    const chain = new DiskChain(base, CAPACITY);
    scribble(chain, model, rng, 10);

    const cids = [baseDescriptor.cid];
    for (const level of [1, 2]) {
      const name = `web01-00000${level}`;
      const parentName = level === 1 ? 'web01.vmdk' : `web01-00000${level - 1}.vmdk`;
      const snapshot = buildSnapshotDescriptor({
        capacitySectors: CAPACITY_SECTORS,
        deltaFileName: `${name}-delta.vmdk`,
        parentFileNameHint: parentName,
        parentCid: cids[cids.length - 1]!,
      });
      cids.push(snapshot.cid);
      fs.writeFileSync(path.join(dir, `${name}.vmdk`), formatDescriptor(snapshot));
      const deltaFile = files.open(path.join(dir, `${name}-delta.vmdk`), true);
      chain.pushDelta(createCowd(deltaFile, { capacitySectors: CAPACITY_SECTORS, parentFileName: parentName }));
      scribble(chain, model, rng, 25);
    }
    return { chain, cids };
  }

  it('reads the same bytes as qemu-img convert, and qemu sees the backing chain', () => {
    const model = new Uint8Array(CAPACITY);
    const { chain } = buildChain(seededRandom(42), model);
    const view = readAll(chain);
    expect(Buffer.compare(view, model)).toBe(0);

    const top = path.join(dir, 'web01-000002.vmdk');
    const rawOut = path.join(dir, 'out.raw');
    qemuImg('convert', '-f', 'vmdk', '-O', 'raw', top, rawOut);
    expect(Buffer.compare(fs.readFileSync(rawOut), view)).toBe(0);

    const info = JSON.parse(qemuImg('info', '--backing-chain', '--output=json', top)) as Array<Record<string, unknown>>;
    expect(info.map((image) => path.basename(String(image['filename'])))).toEqual([
      'web01-000002.vmdk',
      'web01-000001.vmdk',
      'web01.vmdk',
    ]);
    expect(info.every((image) => image['virtual-size'] === CAPACITY)).toBe(true);
    const formatSpecific = info[0]!['format-specific'] as { data: { 'create-type': string } };
    expect(formatSpecific.data['create-type']).toBe('vmfsSparse');
    qemuImg('check', '-f', 'vmdk', top);
  });

  it('reopens from the top descriptor through parentFileNameHint', () => {
    const model = new Uint8Array(CAPACITY);
    const { chain, cids } = buildChain(seededRandom(7), model);
    const opened = openChainFromDescriptor(path.join(dir, 'web01-000002.vmdk'), (p) => files.open(p));
    expect(opened.deltas).toHaveLength(2);
    expect(opened.capacity).toBe(CAPACITY);
    expect(opened.layers.map((layer) => path.basename(layer.descriptorPath))).toEqual([
      'web01.vmdk',
      'web01-000001.vmdk',
      'web01-000002.vmdk',
    ]);
    expect(opened.layers.map((layer) => layer.descriptor.cid)).toEqual(cids);
    expect(opened.layers[2]!.extentPaths).toEqual([path.join(dir, 'web01-000002-delta.vmdk')]);
    expect(Buffer.compare(readAll(opened), readAll(chain))).toBe(0);
    expect(Buffer.compare(readAll(opened), model)).toBe(0);
  });

  it('commitTop merges the top delta without changing what the disk reads, and qemu agrees', () => {
    const model = new Uint8Array(CAPACITY);
    const { chain } = buildChain(seededRandom(99), model);
    const lowerDelta = chain.deltas[0]!;
    const lowerBefore = lowerDelta.allocatedExtents();

    chain.commitTop();
    expect(chain.deltas).toHaveLength(1);
    expect(Buffer.compare(readAll(chain), model)).toBe(0);
    const lowerAfter = lowerDelta.allocatedExtents();
    expect(lowerAfter.reduce((n, r) => n + r.length, 0)).toBeGreaterThan(lowerBefore.reduce((n, r) => n + r.length, 0));

    const rawOut = path.join(dir, 'after-commit.raw');
    qemuImg('convert', '-f', 'vmdk', '-O', 'raw', path.join(dir, 'web01-000001.vmdk'), rawOut);
    expect(Buffer.compare(fs.readFileSync(rawOut), model)).toBe(0);

    chain.commitTop();
    expect(chain.deltas).toHaveLength(0);
    expect(Buffer.compare(fs.readFileSync(path.join(dir, 'web01-flat.vmdk')), model)).toBe(0);
  });

  it('keeps the base untouched while a snapshot exists', () => {
    const model = new Uint8Array(CAPACITY);
    const rng = seededRandom(5);
    const base = files.open(path.join(dir, 'base.raw'), true);
    base.truncate(CAPACITY);
    const chain = new DiskChain(base, CAPACITY);
    scribble(chain, model, rng, 5);
    const baseBefore = fs.readFileSync(path.join(dir, 'base.raw'));
    chain.pushDelta(createCowd(files.open(path.join(dir, 'delta.vmdk'), true), { capacitySectors: CAPACITY_SECTORS }));
    scribble(chain, model, rng, 5);
    expect(Buffer.compare(fs.readFileSync(path.join(dir, 'base.raw')), baseBefore)).toBe(0);
    const reopened = openCowd(files.open(path.join(dir, 'delta.vmdk')));
    const fromDisk = new DiskChain(base, CAPACITY, [reopened]);
    expect(Buffer.compare(readAll(fromDisk), model)).toBe(0);
  });
});
