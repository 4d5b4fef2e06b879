// verifyExportDir of an older export (sha256 block lists, catalog version 1): hashing on worker threads (as it does for large
// ones) finds exactly what hashing on the main thread finds.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExportDir } from '../../src/export/index.js';
import { SanReader } from '../../src/vlun/index.js';
import { LVID } from '../vlun/fake-host.js';
import { exportOptions, makeFakeVm, MiB, type FakeVm } from './fake-vm.js';
import { toVersion1 } from './legacy-export.js';
import { exportAndPublish } from './partial-dir.js';

const KINDS = ['mapped', 'hole', 'mapped', 'unzeroed', 'hole', 'mapped', 'mapped', 'mapped', 'mapped', 'hole', 'mapped'] as const;

let root: string;
let vm: FakeVm;
let dest: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'verify-threads-'));
  vm = makeFakeVm(root, KINDS, 4096);
  dest = join(root, 'out', 'web01');
  await exportAndPublish(exportOptions(vm, new SanReader({ [LVID]: vm.lunPath }), dest));
  toVersion1(dest);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('verifyExportDir of a version 1 export with hashing threads', () => {
  it('agrees with the main thread on a clean export and on a damaged one (the same blocks, files and offsets)', async () => {
    expect(JSON.parse(readFileSync(join(dest, 'catalog'), 'utf8'))).toMatchObject({ version: 1, disks: [{ blocksFile: 'web_01.blocks.sha256' }] });
    const clean = await verifyExportDir(dest, { hashThreads: true });
    expect(clean.ok).toBe(true);
    expect(clean.disks[0]!.actualDigest).toBe(clean.disks[0]!.expectedDigest);
    const flat = join(dest, 'web_01-flat.vmdk');
    const bytes = readFileSync(flat);
    bytes[6 * MiB + 999] ^= 0x01;
    bytes[7 * MiB + 5] ^= 0x80;
    writeFileSync(flat, bytes);
    const threads = await verifyExportDir(dest, { hashThreads: true });
    const here = await verifyExportDir(dest, { hashThreads: false });
    expect(threads.ok).toBe(false);
    expect(threads.disks[0]!.badBlocks).toEqual([6 * MiB, 7 * MiB]);
    expect(threads.problems.map((p) => [p.kind, p.file, p.offset])).toEqual([
      ['block-mismatch', 'web_01-flat.vmdk', 6 * MiB],
      ['block-mismatch', 'web_01-flat.vmdk', 7 * MiB],
    ]);
    expect({ ...threads, durationMs: 0 }).toEqual({ ...here, durationMs: 0 });
  });
});
