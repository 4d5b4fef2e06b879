// --exclude-disk: an excluded disk is not exported and the catalog says why; a slot the VM does not have fails before any snapshot.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseCatalog } from '../../src/export/index.js';
import { backupArgs, cli, outDir, startBench, type Bench } from '../failures/helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench([
    { name: 'three', vmid: 51, disks: [{ size: '8M', fillBytes: '2M' }, { size: '8M', fillBytes: '2M' }, { size: '4M', fillBytes: '1M', slot: 'scsi1:0' }], guest: { writesPerSecond: 0 } },
  ]);
});
afterAll(async () => bench?.stop());

function snapshotCreates(): number {
  return bench.sim.commandLog.filter((c) => c.argv[1] === 'vmsvc/snapshot.create').length;
}

test('an excluded disk is not exported; the catalog lists it as skipped, reason excluded', async () => {
  const r = await cli(backupArgs(bench, 'three', ['--exclude-disk', 'scsi0:1']));
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toContain('2 disk(s)');
  expect(r.stdout).toContain('skipped scsi0:1: excluded');
  const dir = outDir(bench, 'three');
  const catalog = parseCatalog(readFileSync(join(dir, 'catalog'), 'utf8'));
  expect(catalog.disks.map((d) => d.slot)).toEqual(['scsi0:0', 'scsi1:0']);
  expect(catalog.skippedDisks).toEqual([{ slot: 'scsi0:1', sourceDatastorePath: '[ds1] three/three_1.vmdk', reason: 'excluded', detail: expect.stringContaining('excluded') }]);
  expect(catalog.warnings).toEqual([]);
  const vm = bench.sim.esx.vm('three');
  for (const [i, d] of catalog.disks.entries()) {
    const source = vm.readDisk(i === 0 ? 0 : 2);
    expect(readFileSync(join(dir, d.extentFiles[0]!)).equals(source), `disk ${d.slot} exported whole`).toBe(true);
  }
  expect(readdirSync(dir).filter((f) => f.includes('three_1'))).toEqual([]);
});

test('a slot the VM does not have fails with exit 2 naming its slots, before any snapshot is taken', async () => {
  const before = snapshotCreates();
  const dir = join(bench.tmp, 'typo');
  const r = await cli([...bench.connect, '-a', 'name:three', '-r', dir, '--exclude-disk', 'scsi0:1', '--exclude-disk', 'scsi0:7']);
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stderr).toContain('--exclude-disk scsi0:7: three has no such disk; its disks are scsi0:0, scsi0:1, scsi1:0');
  expect(snapshotCreates(), 'no snapshot was created').toBe(before);
  expect(existsSync(dir)).toBe(false);
});

test('excluding every disk is an error, before any snapshot is taken', async () => {
  const before = snapshotCreates();
  const dir = join(bench.tmp, 'none');
  const r = await cli([...bench.connect, '-a', 'name:three', '-r', dir, '--exclude-disk', 'scsi0:0', '--exclude-disk', 'SCSI0:1', '--exclude-disk', 'scsi1:0']);
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stderr).toContain('that excludes every disk of three');
  expect(snapshotCreates()).toBe(before);
});

test('a value that is not a slot is a usage error naming the flag', async () => {
  const r = await cli([...bench.connect, '-a', 'name:three', '-r', join(bench.tmp, 'bad'), '--exclude-disk', 'disk1']);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain('--exclude-disk');
  expect(r.stderr).toContain('scsi0:1');
});
