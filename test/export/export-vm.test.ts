// exportVm writes a complete, sparse, qemu-readable fullvm directory into its partial directory, with verifiable
// checksums; publishing it (commitPartialDirectory) and discarding it after a failure are the caller's.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VcbError } from '../../src/errors.js';
import { discardPartialDirectory, exportVm, parseCatalog, partialDirFor, readStateFile, verifyExport } from '../../src/export/index.js';
import { NbdReader, SanReader, type ChunkSink, type DiskReader, type DiskSource, type ReadOptions } from '../../src/vlun/index.js';
import { LVID } from '../vlun/fake-host.js';
import { exportOptions, makeFakeVm, MiB, type FakeVm } from './fake-vm.js';
import { exportAndPublish, expectUnfinishedPartialThenDiscard, siblings } from './partial-dir.js';

const KINDS = ['mapped', 'hole', 'mapped', 'unzeroed', 'hole', 'hole', 'mapped', 'hole', 'hole', 'mapped'] as const;
const TAIL = 64 * 1024 + 1024;

let root: string;
let vm: FakeVm;
let reference: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'export-vm-'));
  vm = makeFakeVm(root, KINDS, TAIL);
  reference = join(root, 'reference.raw');
  writeFileSync(reference, vm.disk.expected);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A reader that fails after delivering a few chunks, like a dropped connection mid-disk. */
class FailingReader implements DiskReader {
  readonly mode = 'san' as const;
  constructor(private readonly inner: DiskReader) {}
  async read(source: DiskSource, sink: ChunkSink, options?: ReadOptions): Promise<void> {
    let chunks = 0;
    await this.inner.read(source, async (offset, chunk) => {
      if (++chunks === 3) throw new Error('connection dropped');
      await sink(offset, chunk);
    }, options);
  }
}

describe('exportVm', () => {
  it('-M 1 over san: qemu-img check/compare accept it, files are sparse, catalog and vmx are right', async () => {
    const dest = join(root, 'out', 'web01-M1');
    const progress: Array<[number, number]> = [];
    const options = { ...exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }, { chunkSize: 256 * 1024 }), dest), onProgress: (d: number, t: number) => progress.push([d, t]), state: () => ({ runId: 'run1', held: ['snapshot'] }) };
    const result = await exportAndPublish(options);
    expect(result.partial).toBe(partialDirFor(dest, 'run1'));
    expect(existsSync(result.partial)).toBe(false);
    const descriptor = join(dest, 'web_01.vmdk');
    qemuImg('check', '-f', 'vmdk', descriptor);
    expect(qemuImg('compare', '-f', 'vmdk', '-F', 'raw', descriptor, reference)).toContain('Images are identical');

    const flat = statSync(join(dest, 'web_01-flat.vmdk'));
    expect(flat.size).toBe(vm.disk.blockMap.size);
    expect(flat.blocks * 512).toBeLessThan(flat.size * 0.6);

    const catalog = parseCatalog(readFileSync(join(dest, 'catalog'), 'utf8'));
    expect(catalog.format).toBe('vcbmounter-catalog');
    expect(catalog.version).toBe(2);
    expect(catalog.disks[0]).toMatchObject({ slot: 'scsi0:0', descriptorFile: 'web_01.vmdk', extentFiles: ['web_01-flat.vmdk'], blocksFile: 'web_01.blocks.xxh64', blockHash: 'xxh64', capacity: vm.disk.blockMap.size });
    // A version 2 catalog must say how its lists are hashed; version 1 (sha256 lists) says nothing; no other version is read.
    const text = readFileSync(join(dest, 'catalog'), 'utf8');
    const edited = (edit: (c: { version: number; disks: Array<{ blockHash?: string }> }) => void) => {
      const c = JSON.parse(text);
      edit(c);
      return JSON.stringify(c);
    };
    expect(() => parseCatalog(edited((c) => delete c.disks[0]!.blockHash))).toThrow(/a version 2 catalog names each disk's blockHash/);
    expect(parseCatalog(edited((c) => { c.version = 1; delete c.disks[0]!.blockHash; })).version).toBe(1);
    expect(() => parseCatalog(edited((c) => { c.version = 3; }))).toThrow(/version/);
    expect(catalog.disks[0]!.allocatedBytes).toBe(4 * MiB + TAIL);
    expect(catalog.skippedDisks[0]!.reason).toBe('independent');
    expect(catalog.files.sort()).toEqual(['vmware-1.log', 'vmware.log', 'web 01.nvram', 'web 01.vmsd']);
    expect(existsSync(join(dest, 'web 01-3f2a.vswp'))).toBe(false);
    const vmx = readFileSync(join(dest, 'web 01.vmx'), 'utf8');
    expect(vmx).toContain('scsi0:0.fileName = "web_01.vmdk"');
    expect(vmx).toContain('displayName = "web 01"');
    expect(await readStateFile(dest)).toEqual({ runId: 'run1', held: ['snapshot'] });

    expect(progress.at(-1)).toEqual([4 * MiB + TAIL, 4 * MiB + TAIL]);
    expect((await verifyExport(dest)).every((v) => v.ok)).toBe(true);
    expect(siblings(dest)).toEqual([]);
  });

  it('-M 0 over nbd with a small split size: extents split, qemu-img says identical', async () => {
    const dest = join(root, 'out', 'web01-M0');
    const options = { ...exportOptions(vm, new NbdReader(vm.transport), dest), diskLayout: 'twoGbMaxExtentFlat' as const, splitExtentBytes: 3 * MiB };
    const { catalog } = await exportAndPublish(options);
    expect(catalog.disks[0]!.extentFiles).toEqual(['web_01-f001.vmdk', 'web_01-f002.vmdk', 'web_01-f003.vmdk', 'web_01-f004.vmdk']);
    expect(statSync(join(dest, 'web_01-f004.vmdk')).size).toBe(TAIL);
    const descriptor = join(dest, 'web_01.vmdk');
    qemuImg('check', '-f', 'vmdk', descriptor);
    expect(qemuImg('compare', '-f', 'vmdk', '-F', 'raw', descriptor, reference)).toContain('Images are identical');
    const m1 = parseCatalog(readFileSync(join(root, 'out', 'web01-M1', 'catalog'), 'utf8'));
    expect(catalog.disks[0]!.digest).toBe(m1.disks[0]!.digest);
  });

  it('verifyExport finds a flipped byte', async () => {
    const dest = join(root, 'out', 'web01-flip');
    await exportAndPublish(exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }), dest));
    const flat = join(dest, 'web_01-flat.vmdk');
    const bytes = readFileSync(flat);
    bytes[6 * MiB + 12345] ^= 0x40;
    writeFileSync(flat, bytes);
    const [result] = await verifyExport(dest);
    expect(result!.ok).toBe(false);
    expect(result!.badBlocks).toEqual([6 * MiB]);
    expect(result!.actualDigest).not.toBe(result!.expectedDigest);
  });

  it('refuses an existing destination and touches nothing', async () => {
    const dest = join(root, 'out', 'existing');
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'old-backup'), 'keep me');
    const error = await exportVm(exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }), dest)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VcbError);
    expect((error as VcbError).code).toBe('DESTINATION');
    expect(readdirSync(dest)).toEqual(['old-backup']);
    expect(siblings(dest)).toEqual([]);
  });

  // Replacing the old export with the new one is the publish step's (journaled replaced-dir resource), tested there;
  // exportVm only builds the new export beside the old one and never touches the old one.
  it("preexisting 'delete' writes the new export into the partial directory and leaves the old one untouched, failing or not", async () => {
    const dest = join(root, 'out', 'replace');
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'old-backup'), 'keep me until the new one is complete');
    const failing = { ...exportOptions(vm, new FailingReader(new SanReader({ [LVID]: vm.lunPath }, { chunkSize: 256 * 1024 })), dest, 'run2'), preexisting: 'delete' as const };
    const error = await exportVm(failing).catch((e: unknown) => e);
    expect((error as VcbError).code).toBe('EXPORT');
    expect((error as Error).message).toContain('connection dropped');
    expect(readdirSync(dest)).toEqual(['old-backup']);
    expect(readFileSync(join(dest, 'old-backup'), 'utf8')).toBe('keep me until the new one is complete');
    await expectUnfinishedPartialThenDiscard(dest, 'run2');

    const result = await exportVm({ ...exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }), dest, 'run3'), preexisting: 'delete' });
    expect(result.partial).toBe(partialDirFor(dest, 'run3'));
    expect(readdirSync(result.partial)).toContain('catalog');
    expect(readdirSync(result.partial)).not.toContain('old-backup');
    expect((await verifyExport(result.partial)).every((v) => v.ok)).toBe(true);
    expect(readdirSync(dest)).toEqual(['old-backup']);
    expect(readFileSync(join(dest, 'old-backup'), 'utf8')).toBe('keep me until the new one is complete');
    expect(siblings(dest)).toEqual(['replace.partial-run3']);
    await discardPartialDirectory(result.partial);
    expect(siblings(dest)).toEqual([]);
  });

  it('a reader failing mid-export creates no destination and leaves an unfinished partial directory for the caller to discard', async () => {
    const dest = join(root, 'out', 'failed');
    const error = await exportVm(exportOptions(vm, new FailingReader(new SanReader({ [LVID]: vm.lunPath }, { chunkSize: 256 * 1024 })), dest)).catch((e: unknown) => e);
    expect((error as VcbError).code).toBe('EXPORT');
    expect((error as VcbError).context.vm).toBe('web 01');
    expect(existsSync(dest)).toBe(false);
    await expectUnfinishedPartialThenDiscard(dest, 'run1');
  });

  it('a VM file that cannot be copied (fetched side by side with the others) fails the export; nothing looks complete', async () => {
    const dest = join(root, 'out', 'file-failed');
    const options = exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }), dest);
    const missing = join(root, 'host-files-gone', 'vmware-9.log');
    const error = await exportVm({ ...options, vmFiles: [...(options.vmFiles ?? []), missing] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VcbError);
    expect((error as VcbError).code).toBe('EXPORT');
    expect((error as VcbError).message).toContain('vmware-9.log');
    expect(existsSync(dest)).toBe(false);
    await expectUnfinishedPartialThenDiscard(dest, 'run1');
  });

  it('fails early with DESTINATION when the disks cannot fit', async () => {
    const dest = join(root, 'out', 'too-big');
    const options = exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }), dest);
    const huge = { ...vm.diskInput, base: { ...vm.diskInput.base, blockMap: { ...vm.disk.blockMap, extents: [{ fileOffset: 0, length: 2 ** 52, kind: 'mapped' as const, lunOffset: 0, lvid: LVID }] } } };
    const error = await exportVm({ ...options, disks: [huge] }).catch((e: unknown) => e);
    expect((error as VcbError).code).toBe('DESTINATION');
    expect((error as Error).message).toMatch(/needs 4503599627370496 bytes/);
    expect(existsSync(dest)).toBe(false);
    expect(siblings(dest)).toEqual([]);
  });

  it('an abort mid-disk ends with INTERRUPTED and leaves an unfinished partial directory for the caller to discard', async () => {
    const dest = join(root, 'out', 'aborted');
    const controller = new AbortController();
    const options = {
      ...exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }, { chunkSize: 256 * 1024 }), dest),
      signal: controller.signal,
      onProgress: (done: number) => {
        if (done >= 512 * 1024) controller.abort(new Error('SIGINT'));
      },
    };
    const error = await exportVm(options).catch((e: unknown) => e);
    expect((error as VcbError).code).toBe('INTERRUPTED');
    expect(existsSync(dest)).toBe(false);
    await expectUnfinishedPartialThenDiscard(dest, 'run1');
  });
});
