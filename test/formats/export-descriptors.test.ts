import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openChainFromDescriptor } from '../../src/formats/chain.js';
import {
  buildMonolithicFlatDescriptor,
  buildTwoGbMaxExtentFlatDescriptor,
  formatDescriptor,
  SECTOR_SIZE,
  TWO_GB_EXTENT_SECTORS,
  type VmdkDescriptor,
} from '../../src/formats/vmdk-descriptor.js';
import { FileTracker, makeTempDir, qemuImg, seededRandom } from './helpers.js';

/** A sparse raw image with a few random patches, returned as [offset, bytes] pairs. */
function makeRaw(rawPath: string, capacity: number, seed: number): Array<[number, Uint8Array]> {
  const rng = seededRandom(seed);
  const patches: Array<[number, Uint8Array]> = [
    [0, rng.bytes(4096)],
    [capacity - 1000, rng.bytes(1000)],
  ];
  for (let i = 0; i < 6; i++) patches.push([rng.int(capacity - 70000), rng.bytes(1 + rng.int(70000))]);
  const fd = fs.openSync(rawPath, 'w');
  fs.ftruncateSync(fd, capacity);
  for (const [offset, bytes] of patches) fs.writeSync(fd, bytes, 0, bytes.length, offset);
  fs.closeSync(fd);
  return patches;
}

/** Writes the patches into the descriptor's flat extent files (sparse, each extent from offset 0). */
function writeExtents(dir: string, descriptor: VmdkDescriptor, patches: Array<[number, Uint8Array]>): void {
  let start = 0;
  for (const extent of descriptor.extents) {
    const length = extent.sectors * SECTOR_SIZE;
    const fd = fs.openSync(path.join(dir, extent.fileName!), 'w');
    fs.ftruncateSync(fd, length);
    for (const [offset, bytes] of patches) {
      const from = Math.max(offset, start);
      const to = Math.min(offset + bytes.length, start + length);
      if (from < to) fs.writeSync(fd, bytes, from - offset, to - from, from - start);
    }
    fs.closeSync(fd);
    start += length;
  }
}

function qemuCompare(descriptorPath: string, rawPath: string): string {
  return execFileSync('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', descriptorPath, rawPath], { encoding: 'utf8' });
}

describe('export descriptors accepted by qemu-img', () => {
  let dir = '';
  const files = new FileTracker();
  beforeEach(() => {
    dir = makeTempDir('export');
  });
  afterEach(() => {
    files.closeAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('monolithicFlat: check passes, compare says identical, the chain reader agrees', () => {
    const capacitySectors = 20000;
    const rawPath = path.join(dir, 'source.raw');
    const patches = makeRaw(rawPath, capacitySectors * SECTOR_SIZE, 11);
    const descriptor = buildMonolithicFlatDescriptor({ capacitySectors, flatFileName: 'web01-flat.vmdk' });
    writeExtents(dir, descriptor, patches);
    const descriptorPath = path.join(dir, 'web01.vmdk');
    fs.writeFileSync(descriptorPath, formatDescriptor(descriptor));

    qemuImg('check', '-f', 'vmdk', descriptorPath);
    expect(qemuCompare(descriptorPath, rawPath)).toMatch(/Images are identical/);
    const info = JSON.parse(qemuImg('info', '--output=json', descriptorPath)) as Record<string, any>;
    expect(info['virtual-size']).toBe(capacitySectors * SECTOR_SIZE);
    expect(info['format-specific'].data['create-type']).toBe('monolithicFlat');

    const chain = openChainFromDescriptor(descriptorPath, (p) => files.open(p));
    const view = new Uint8Array(chain.capacity);
    chain.read(view, 0);
    expect(Buffer.compare(view, fs.readFileSync(rawPath))).toBe(0);
  });

  it('twoGbMaxExtentFlat with small extents: several files, identical to the raw image', () => {
    const capacitySectors = 5 * 2048 + 300;
    const rawPath = path.join(dir, 'source.raw');
    const patches = makeRaw(rawPath, capacitySectors * SECTOR_SIZE, 12);
    const descriptor = buildTwoGbMaxExtentFlatDescriptor({ capacitySectors, descriptorFileName: 'web01.vmdk', extentSectors: 2048 });
    expect(descriptor.extents).toHaveLength(6);
    writeExtents(dir, descriptor, patches);
    const descriptorPath = path.join(dir, 'web01.vmdk');
    fs.writeFileSync(descriptorPath, formatDescriptor(descriptor));

    qemuImg('check', '-f', 'vmdk', descriptorPath);
    expect(qemuCompare(descriptorPath, rawPath)).toMatch(/Images are identical/);
    const info = JSON.parse(qemuImg('info', '--output=json', descriptorPath)) as Record<string, any>;
    expect(info['format-specific'].data.extents).toHaveLength(6);

    const chain = openChainFromDescriptor(descriptorPath, (p) => files.open(p));
    const view = new Uint8Array(chain.capacity);
    chain.read(view, 0);
    expect(Buffer.compare(view, fs.readFileSync(rawPath))).toBe(0);
  });

  it('twoGbMaxExtentFlat at the real 2 GiB split: qemu sees both extents and identical content', () => {
    const capacitySectors = TWO_GB_EXTENT_SECTORS + 2048;
    const rawPath = path.join(dir, 'source.raw');
    const patches = makeRaw(rawPath, capacitySectors * SECTOR_SIZE, 13);
    patches.push([TWO_GB_EXTENT_SECTORS * SECTOR_SIZE - 300, seededRandom(1).bytes(600)]);
    const fd = fs.openSync(rawPath, 'r+');
    fs.writeSync(fd, patches.at(-1)![1], 0, 600, patches.at(-1)![0]);
    fs.closeSync(fd);
    const descriptor = buildTwoGbMaxExtentFlatDescriptor({ capacitySectors, descriptorFileName: 'big.vmdk' });
    writeExtents(dir, descriptor, patches);
    const descriptorPath = path.join(dir, 'big.vmdk');
    fs.writeFileSync(descriptorPath, formatDescriptor(descriptor));
    expect(fs.statSync(path.join(dir, 'big-f001.vmdk')).size).toBe(2 * 1024 ** 3);

    qemuImg('check', '-f', 'vmdk', descriptorPath);
    expect(qemuCompare(descriptorPath, rawPath)).toMatch(/Images are identical/);

    const chain = openChainFromDescriptor(descriptorPath, (p) => files.open(p));
    const across = new Uint8Array(600);
    chain.read(across, TWO_GB_EXTENT_SECTORS * SECTOR_SIZE - 300);
    expect(Buffer.compare(across, patches.at(-1)![1])).toBe(0);
  });
});
