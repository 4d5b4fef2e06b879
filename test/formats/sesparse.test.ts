import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskChain, openChainFromDescriptor } from '../../src/formats/chain.js';
import { createCowd } from '../../src/formats/cowd.js';
import { createSesparse, isSesparse, openSesparse, SesparseDisk } from '../../src/formats/sesparse.js';
import { openSparseDelta, type DeltaFormat } from '../../src/formats/sparse-delta.js';
import { buildBaseDescriptor, buildSnapshotDescriptor, formatDescriptor, SECTOR_SIZE } from '../../src/formats/vmdk-descriptor.js';
import { FileTracker, makeTempDir, qemuImg, seededRandom } from './helpers.js';

// Three grain tables' worth (16 MiB each) and a ragged tail that is not a whole grain.
const CAPACITY_SECTORS = 3 * 32768 + 8 * 37 + 3;
const CAPACITY = CAPACITY_SECTORS * SECTOR_SIZE;
const TABLE_SPAN = 16 * 1024 * 1024;

type Rng = ReturnType<typeof seededRandom>;

function scribble(chain: DiskChain, model: Uint8Array, rng: Rng, count: number): void {
  const apply = (position: number, length: number): void => {
    const data = rng.bytes(length);
    chain.write(data, position);
    model.set(data, position);
  };
  apply(TABLE_SPAN - 700, 9000); // across a grain-table boundary, unaligned
  apply(CAPACITY - 333, 333); // the ragged last grain
  apply(2 * TABLE_SPAN + 4096, 64 * 1024); // whole grains
  for (let i = 0; i < count; i++) {
    const length = 1 + rng.int(i % 4 === 0 ? 512 * 1024 : 9000);
    apply(rng.int(CAPACITY - length), length);
  }
}

function readAll(chain: DiskChain): Uint8Array {
  const out = new Uint8Array(CAPACITY);
  chain.read(out, 0);
  return out;
}

describe('SEsparse deltas, checked with qemu-img (which reads seSparse)', () => {
  let dir = '';
  const files = new FileTracker();
  beforeEach(() => {
    dir = makeTempDir('sesparse');
  });
  afterEach(() => {
    files.closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** vm.vmdk (base) and one snapshot link per format given, each with guest writes; returns the top descriptor. */
  function buildChain(formats: DeltaFormat[], rng: Rng, model: Uint8Array): { chain: DiskChain; top: string } {
    const base = files.open(path.join(dir, 'vm-flat.vmdk'), true);
    base.truncate(CAPACITY);
    const baseDescriptor = buildBaseDescriptor({ capacitySectors: CAPACITY_SECTORS, flatFileName: 'vm-flat.vmdk', thin: true });
    fs.writeFileSync(path.join(dir, 'vm.vmdk'), formatDescriptor(baseDescriptor));
    const chain = new DiskChain(base, CAPACITY);
    scribble(chain, model, rng, 8);
    let parent = 'vm.vmdk';
    let parentCid = baseDescriptor.cid;
    formats.forEach((format, i) => {
      const name = `vm-00000${i + 1}`;
      const deltaFileName = `${name}-${format === 'seSparse' ? 'sesparse' : 'delta'}.vmdk`;
      const child = buildSnapshotDescriptor({ capacitySectors: CAPACITY_SECTORS, deltaFileName, parentFileNameHint: parent, parentCid, format });
      fs.writeFileSync(path.join(dir, `${name}.vmdk`), formatDescriptor(child));
      const file = files.open(path.join(dir, deltaFileName), true);
      chain.pushDelta(format === 'seSparse' ? createSesparse(file, { capacitySectors: CAPACITY_SECTORS }) : createCowd(file, { capacitySectors: CAPACITY_SECTORS, parentFileName: parent }));
      scribble(chain, model, rng, 20);
      parent = `${name}.vmdk`;
      parentCid = child.cid;
    });
    return { chain, top: path.join(dir, parent) };
  }

  function qemuRaw(descriptor: string): Buffer {
    const out = path.join(dir, `${path.basename(descriptor)}.raw`);
    qemuImg('convert', '-f', 'vmdk', '-O', 'raw', descriptor, out);
    return fs.readFileSync(out);
  }

  it('a chain of SEsparse deltas reads as qemu-img reads it, reopened from its descriptors', () => {
    const model = new Uint8Array(CAPACITY);
    const { top } = buildChain(['seSparse', 'seSparse'], seededRandom(11), model);
    const fromQemu = qemuRaw(top);
    expect(Buffer.compare(fromQemu, model)).toBe(0);
    const opened = openChainFromDescriptor(top, (p) => files.open(p));
    expect(opened.deltas.map((d) => d.format)).toEqual(['seSparse', 'seSparse']);
    expect(Buffer.compare(readAll(opened), fromQemu)).toBe(0);
    const info = JSON.parse(qemuImg('info', '--output=json', top)) as { 'virtual-size': number; 'format-specific': { data: { 'create-type': string } } };
    expect(info['virtual-size']).toBe(CAPACITY);
    expect(info['format-specific'].data['create-type']).toBe('seSparse');
  });

  it('a chain mixing COWD and SEsparse links reads as qemu-img reads it, at every level', () => {
    const model = new Uint8Array(CAPACITY);
    const { top } = buildChain(['vmfsSparse', 'seSparse', 'vmfsSparse', 'seSparse'], seededRandom(23), model);
    const opened = openChainFromDescriptor(top, (p) => files.open(p));
    expect(opened.deltas.map((d) => d.format)).toEqual(['vmfsSparse', 'seSparse', 'vmfsSparse', 'seSparse']);
    expect(Buffer.compare(readAll(opened), model)).toBe(0);
    for (const layers of [2, 4]) {
      const layer = opened.layers[layers]!;
      const mine = new Uint8Array(CAPACITY);
      opened.readLayers(layers, mine, 0);
      expect(Buffer.compare(qemuRaw(layer.descriptorPath), mine), layer.descriptorPath).toBe(0);
    }
  });

  it('zero and unmapped grains read as zeros, not as the parent, in qemu-img too', () => {
    const model = new Uint8Array(CAPACITY);
    const { chain, top } = buildChain(['seSparse'], seededRandom(5), model);
    const delta = chain.deltas[0] as SesparseDisk;
    // Grains the base holds data in: one already in the delta, others not (the second in a table of its own).
    delta.markZero(TABLE_SPAN - 4096, 2 * 4096, 'zero');
    delta.markZero(0, 8 * 4096, 'unmapped');
    delta.markZero(CAPACITY - (CAPACITY % 4096), CAPACITY % 4096, 'zero');
    model.fill(0, TABLE_SPAN - 4096, TABLE_SPAN + 4096);
    model.fill(0, 0, 8 * 4096);
    model.fill(0, CAPACITY - (CAPACITY % 4096));
    // A partial write into a zero grain keeps the rest of that grain zero.
    const partial = seededRandom(9).bytes(100);
    chain.write(partial, 4096 + 10);
    model.set(partial, 4096 + 10);
    expect(Buffer.compare(readAll(chain), model)).toBe(0);
    expect(Buffer.compare(qemuRaw(top), model)).toBe(0);
    const held = openSesparse(files.open(path.join(dir, 'vm-000001-sesparse.vmdk'))).allocatedExtents();
    expect(held[0]).toEqual({ offset: 0, length: 8 * 4096 });
  });

  it('an empty delta reads as its parent, and holds nothing', () => {
    const model = new Uint8Array(CAPACITY);
    const { chain, top } = buildChain([], seededRandom(3), model);
    const name = 'vm-000001';
    const child = buildSnapshotDescriptor({ capacitySectors: CAPACITY_SECTORS, deltaFileName: `${name}-sesparse.vmdk`, parentFileNameHint: path.basename(top), parentCid: 1, format: 'seSparse' });
    const text = formatDescriptor(child);
    expect(text).toContain('createType="seSparse"');
    expect(text).toContain(`RW ${CAPACITY_SECTORS} SESPARSE "${name}-sesparse.vmdk"`);
    const delta = createSesparse(files.open(path.join(dir, `${name}-sesparse.vmdk`), true), { capacitySectors: CAPACITY_SECTORS });
    expect(delta.allocatedExtents()).toEqual([]);
    expect(delta.layoutProblem()).toBeUndefined();
    chain.pushDelta(delta);
    expect(Buffer.compare(readAll(chain), model)).toBe(0);
  });

  it('is refused where qemu refuses it: magic, version, grain size, a journal to replay', () => {
    const file = files.open(path.join(dir, 'd.vmdk'), true);
    createSesparse(file, { capacitySectors: CAPACITY_SECTORS });
    const head = new Uint8Array(8);
    file.read(head, 0);
    expect(isSesparse(head)).toBe(true);
    const poke = (offset: number, value: bigint, expected: RegExp) => {
      const saved = new Uint8Array(8);
      file.read(saved, offset);
      const raw = new Uint8Array(8);
      new DataView(raw.buffer).setBigUint64(0, value, true);
      file.write(raw, offset);
      expect(() => openSparseDelta(file)).toThrow(expected);
      file.write(saved, offset);
    };
    poke(0, 0xcafebaffn, /neither a COWD nor a SEsparse magic/);
    poke(8, 0x100000001n, /unsupported SEsparse version 0x100000001/);
    poke(24, 16n, /grain size 16/);
    poke(32, 128n, /grain table size 128/);
    poke(512 + 24, 1n, /journal needs replaying/);
    expect(openSparseDelta(file).format).toBe('seSparse');
  });

  it('a truncated or corrupt delta is found out by layoutProblem', () => {
    const model = new Uint8Array(CAPACITY);
    buildChain(['seSparse'], seededRandom(17), model);
    const deltaPath = path.join(dir, 'vm-000001-sesparse.vmdk');
    const whole = fs.readFileSync(deltaPath);
    expect(openSesparse(files.open(deltaPath)).layoutProblem()).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'short.vmdk'), whole.subarray(0, whole.length - 4096));
    expect(openSesparse(files.open(path.join(dir, 'short.vmdk'))).layoutProblem()).toMatch(/grain \d+ at sector \d+ ends beyond the file's/);
    const corrupt = Buffer.from(whole);
    const gdOffset = Number(corrupt.readBigUInt64LE(16 * 8)) * 512;
    corrupt.writeBigUInt64LE(0x2000000000000000n, gdOffset);
    fs.writeFileSync(path.join(dir, 'corrupt.vmdk'), corrupt);
    expect(() => openSesparse(files.open(path.join(dir, 'corrupt.vmdk')))).toThrow(/grain directory entry 0 is invalid/);
  });
});
