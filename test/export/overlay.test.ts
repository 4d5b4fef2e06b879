// Users' older snapshot deltas (COWD, SEsparse, mixed) are laid over the base: the export is the point-in-time image, over nbd and san.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCowd } from '../../src/formats/cowd.js';
import { createSesparse } from '../../src/formats/sesparse.js';
import { openLocalFile } from '../../src/formats/local-file.js';
import { verifyExport, type Catalog } from '../../src/export/index.js';
import { NbdReader, SanReader, type DiskSource } from '../../src/vlun/index.js';
import { LVID } from '../vlun/fake-host.js';
import { exportOptions, makeFakeVm, MiB, type FakeVm } from './fake-vm.js';
import { exportAndPublish } from './partial-dir.js';

const LVID2 = '5a5a5a5a-11223344-5566-778899aabbcc';
const ZEROED_BLOCK = 4;

let root: string;
let vm: FakeVm;
let expected: Buffer;
let deltaPaths: string[];
/** A SEsparse twin of deltaPaths[1]: the same writes, its zeros held as zero grains. */
let sesparsePath: string;
let reference: string;

/** Writes a COWD delta holding the given writes (sector-aligned) and applies them to the expected image. */
function makeDelta(path: string, capacity: number, writes: Array<[number, Buffer]>): void {
  const file = openLocalFile(path, { create: true });
  const delta = createCowd(file, { capacitySectors: capacity / 512, parentFileName: 'web 01.vmdk' });
  for (const [offset, data] of writes) {
    delta.write(data, offset);
    data.copy(expected, offset);
  }
  file.close();
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'export-overlay-'));
  vm = makeFakeVm(root, ['mapped', 'mapped', 'mapped', 'mapped', 'mapped', 'mapped'], MiB);
  const zeroed = vm.disk.blockMap.extents[ZEROED_BLOCK]!;
  vm.disk.expected.fill(0, zeroed.fileOffset, zeroed.fileOffset + MiB);
  const lun = readFileSync(vm.lunPath);
  lun.fill(0, zeroed.lunOffset!, zeroed.lunOffset! + MiB);
  writeFileSync(vm.lunPath, lun);
  const flat = readFileSync(vm.flatPath);
  flat.fill(0, zeroed.fileOffset, zeroed.fileOffset + MiB);
  writeFileSync(vm.flatPath, flat);
  vm.diskInput.thin = false;

  expected = Buffer.from(vm.disk.expected);
  const capacity = expected.length;
  deltaPaths = [join(vm.vmDir, 'web 01-000001-delta.vmdk'), join(vm.vmDir, 'web 01-000002-delta.vmdk')];
  makeDelta(deltaPaths[0]!, capacity, [
    [512, Buffer.alloc(8192)],
    [MiB + MiB / 2, randomBytes(3 * 4096)],
    [2 * MiB - 1024, randomBytes(4096)],
    [ZEROED_BLOCK * MiB + 4096, randomBytes(512)],
  ]);
  const secondWrites: Array<[number, Buffer]> = [
    [MiB + MiB / 2 + 4096, randomBytes(1024)],
    [5 * MiB, Buffer.alloc(MiB)],
  ];
  const beforeSecond = Buffer.from(expected);
  makeDelta(deltaPaths[1]!, capacity, secondWrites);
  sesparsePath = join(vm.vmDir, 'web 01-000002-sesparse.vmdk');
  const file = openLocalFile(sesparsePath, { create: true });
  const twin = createSesparse(file, { capacitySectors: capacity / 512 });
  // Its 4 KiB grains take what a write does not cover from the layers below, as a host's do.
  twin.write(secondWrites[0]![1], secondWrites[0]![0], { read: (buf, at) => buf.set(beforeSecond.subarray(at, at + buf.length)) });
  twin.markZero(5 * MiB, MiB);
  file.close();
  reference = join(root, 'point-in-time.raw');
  writeFileSync(reference, expected);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function wholeFileSource(path: string): DiskSource {
  const size = statSync(path).size;
  return { dataPath: path, blockMap: { path, size, extents: [{ fileOffset: 0, length: size, kind: 'mapped', lunOffset: 0, lvid: LVID2 }] } };
}

/** Puts a delta file on a second LUN in two pieces, tail first, and returns its block map. */
function deltaOnLun(path: string, lun: Buffer, lunBase: number): DiskSource {
  const bytes = readFileSync(path);
  const head = Math.ceil(bytes.length / 2 / 512) * 512;
  bytes.copy(lun, lunBase + MiB, 0, head);
  bytes.copy(lun, lunBase, head);
  return {
    dataPath: path,
    blockMap: {
      path,
      size: bytes.length,
      extents: [
        { fileOffset: 0, length: head, kind: 'mapped', lunOffset: lunBase + MiB, lvid: LVID2 },
        { fileOffset: head, length: bytes.length - head, kind: 'mapped', lunOffset: lunBase, lvid: LVID2 },
      ],
    },
  };
}

function compareWithReference(descriptor: string): string {
  return execFileSync('qemu-img', ['compare', '-f', 'vmdk', '-F', 'raw', descriptor, reference], { encoding: 'utf8' });
}

describe('point-in-time overlay', () => {
  let nbdCatalog: Catalog;

  it('nbd: deltas fetched with cat, oldest first; block list and digest match the files', async () => {
    const dest = join(root, 'nbd-export');
    const disk = { ...vm.diskInput, deltas: deltaPaths.map(wholeFileSource) };
    const progress: number[] = [];
    const result = await exportAndPublish({ ...exportOptions(vm, new NbdReader(vm.transport), dest), disks: [disk], onProgress: (done, total) => progress.push(total - done) });
    nbdCatalog = result.catalog;
    expect(compareWithReference(join(dest, 'web_01.vmdk'))).toContain('Images are identical');
    expect((await verifyExport(dest)).map((v) => v.ok)).toEqual([true]);
    expect(result.catalog.disks[0]!.snapshotDeltas).toEqual(deltaPaths);
    expect(progress.at(-1)).toBe(0);
    const flat = statSync(join(dest, 'web_01-flat.vmdk'));
    expect(flat.blocks * 512).toBeLessThanOrEqual(flat.size - MiB + 8192);
  });

  it('san: deltas rebuilt from their own block maps on the LUN give the same image and digest', async () => {
    const lun2 = Buffer.alloc(8 * MiB);
    const deltas = [deltaOnLun(deltaPaths[0]!, lun2, 0), deltaOnLun(deltaPaths[1]!, lun2, 4 * MiB)];
    const lun2Path = join(root, 'lun2.img');
    writeFileSync(lun2Path, lun2);
    const dest = join(root, 'san-export');
    const disk = { ...vm.diskInput, deltas };
    const result = await exportAndPublish({ ...exportOptions(vm, new SanReader({ [LVID]: vm.lunPath, [LVID2]: lun2Path }), dest), disks: [disk] });
    expect(compareWithReference(join(dest, 'web_01.vmdk'))).toContain('Images are identical');
    expect((await verifyExport(dest)).map((v) => v.ok)).toEqual([true]);
    expect(result.catalog.disks[0]!.digest).toBe(nbdCatalog.disks[0]!.digest);
  });

  it('san: a delta without a usable map is read through the host, with a warning naming the disk and why', async () => {
    const lun2 = Buffer.alloc(8 * MiB);
    const lun2Path = join(root, 'lun2-bad.img');
    // The first delta's map points at LUN bytes that are not that delta (all zeros); the second has no map.
    const wrong = deltaOnLun(deltaPaths[0]!, Buffer.alloc(8 * MiB), 0);
    writeFileSync(lun2Path, lun2);
    const dest = join(root, 'san-fallback');
    const disk = { ...vm.diskInput, deltas: [wrong, { dataPath: deltaPaths[1]!, unmapped: 'exit status 1: Failed to get the block map' }] };
    const warnings: string[] = [];
    const result = await exportAndPublish({
      ...exportOptions(vm, new SanReader({ [LVID]: vm.lunPath, [LVID2]: lun2Path }), dest),
      disks: [disk],
      onWarning: (w: string) => warnings.push(w),
    });
    expect(compareWithReference(join(dest, 'web_01.vmdk'))).toContain('Images are identical');
    expect(result.catalog.disks[0]!.digest).toBe(nbdCatalog.disks[0]!.digest);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(`${vm.diskInput.slot} (${vm.diskInput.sourceDatastorePath}): no usable block map of snapshot delta ${deltaPaths[0]}`);
    expect(warnings[0]).toMatch(/its block map does not rebuild the delta: not a snapshot delta \(neither a COWD nor a SEsparse magic\).*through the host/);
    expect(warnings[1]).toContain(`snapshot delta ${deltaPaths[1]} (exit status 1: Failed to get the block map), so -m san read that delta through the host`);
  });

  it('a delta cut short on the way is refused, not laid over the disk as holes', async () => {
    const whole = readFileSync(deltaPaths[1]!);
    const cut = join(vm.vmDir, 'web 01-000009-delta.vmdk');
    writeFileSync(cut, whole.subarray(0, whole.length - 4096));
    const dest = join(root, 'nbd-cut');
    const disk = { ...vm.diskInput, deltas: [{ dataPath: cut, format: 'vmfsSparse' as const }] };
    await expect(exportAndPublish({ ...exportOptions(vm, new NbdReader(vm.transport), dest), disks: [disk] })).rejects.toThrow(/not a whole COWD delta: grain \d+ at sector \d+ ends beyond the file/);
  });

  it('nbd and san: a chain mixing a COWD and a SEsparse delta (zero grains included) gives the same image and digest', async () => {
    const seSparse = (source: DiskSource) => ({ ...source, format: 'seSparse' as const });
    const nbdDest = join(root, 'nbd-mixed');
    const nbdDisk = { ...vm.diskInput, deltas: [wholeFileSource(deltaPaths[0]!), seSparse(wholeFileSource(sesparsePath))] };
    const nbd = await exportAndPublish({ ...exportOptions(vm, new NbdReader(vm.transport), nbdDest), disks: [nbdDisk] });
    expect(compareWithReference(join(nbdDest, 'web_01.vmdk'))).toContain('Images are identical');
    expect(nbd.catalog.disks[0]!.digest).toBe(nbdCatalog.disks[0]!.digest);

    const lun2 = Buffer.alloc(8 * MiB);
    const deltas = [deltaOnLun(deltaPaths[0]!, lun2, 0), seSparse(deltaOnLun(sesparsePath, lun2, 4 * MiB))];
    const lun2Path = join(root, 'lun2-mixed.img');
    writeFileSync(lun2Path, lun2);
    const sanDest = join(root, 'san-mixed');
    const warnings: string[] = [];
    const san = await exportAndPublish({
      ...exportOptions(vm, new SanReader({ [LVID]: vm.lunPath, [LVID2]: lun2Path }), sanDest),
      disks: [{ ...vm.diskInput, deltas }],
      onWarning: (w: string) => warnings.push(w),
    });
    expect(warnings).toEqual([]);
    expect(compareWithReference(join(sanDest, 'web_01.vmdk'))).toContain('Images are identical');
    expect(san.catalog.disks[0]!.digest).toBe(nbdCatalog.disks[0]!.digest);
  });

  it('a SEsparse delta cut short on the way is refused, not laid over the disk as holes', async () => {
    const whole = readFileSync(sesparsePath);
    const cut = join(vm.vmDir, 'web 01-000009-sesparse.vmdk');
    writeFileSync(cut, whole.subarray(0, whole.length - 512));
    const dest = join(root, 'nbd-cut-sesparse');
    const disk = { ...vm.diskInput, deltas: [{ dataPath: cut, format: 'seSparse' as const }] };
    await expect(exportAndPublish({ ...exportOptions(vm, new NbdReader(vm.transport), dest), disks: [disk] })).rejects.toThrow(/not a whole SEsparse delta: grain \d+ at sector \d+ ends beyond the file/);
  });

  it('a delta whose file is not of the format its descriptor names is refused', async () => {
    const dest = join(root, 'nbd-wrong-format');
    const disk = { ...vm.diskInput, deltas: [{ dataPath: sesparsePath, format: 'vmfsSparse' as const }] };
    await expect(exportAndPublish({ ...exportOptions(vm, new NbdReader(vm.transport), dest), disks: [disk] })).rejects.toThrow(/not a whole COWD delta: its descriptor names a COWD delta, the file is SEsparse/);
  });
});
