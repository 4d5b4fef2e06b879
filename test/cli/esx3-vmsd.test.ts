// ESX 3.x with hostd's .vmsd out of step (stale or missing): the run's snapshot is always removed, recognised by hassnapshot and the disk chains; an ambiguous VM is refused before any create.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { parseCatalog, verifyExport } from '../../src/export/index.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, markerIndex } from '../sim/integration/helpers.js';
import {
  backupArgs,
  cli,
  expectNothingLeft,
  footprint,
  message,
  outDir,
  slowExport,
  SNAP,
  startBench,
  vmSpec,
  waitForExport,
  type Bench,
} from '../failures/helpers.js';

const ESX3 = { kind: 'esx3' };
const VM = 'vm1';
let bench: Bench | undefined;

afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

/** What a stale .vmsd can still list while hostd has no snapshot: snapshots long removed, one of them another run's backup snapshot. */
const STALE_VMSD = [
  '.encoding = "UTF-8"',
  'snapshot.lastUID = "2"',
  'snapshot.current = "2"',
  'snapshot0.uid = "1"',
  'snapshot0.filename = "vm1-Snapshot1.vmsn"',
  'snapshot0.displayName = "before-upgrade"',
  'snapshot0.description = ""',
  'snapshot1.uid = "2"',
  'snapshot1.filename = "vm1-Snapshot2.vmsn"',
  'snapshot1.parent = "1"',
  'snapshot1.displayName = "_VCB-BACKUP_"',
  'snapshot1.description = "vcbmounter backup run 20200101T000000Z-1-abcdef"',
  'snapshot.numSnapshots = "2"',
  '',
].join('\n');

function vmsdPath(b: Bench): string {
  const vm = b.sim.esx.vm(VM);
  return `${vm.dir}/${vm.fileBase}.vmsd`;
}

function commandsWith(b: Bench, word: string): string[][] {
  return b.sim.commandLog.map((c) => c.argv).filter((a) => a[0] === 'vmware-cmd' && a.includes(word));
}

/** Backs the VM up and checks: exit 0, exactly one create and one removesnapshots, nothing left, every disk exact at the snapshot instant and after. */
async function backupAndCheck(b: Bench): Promise<string> {
  const vm = b.sim.esx.vm(VM);
  const before = footprint(b.sim, VM);
  const initial = [vm.readDisk(0), vm.readDisk(1)];
  const from = vm.guest.events.length;
  const r = await cli(backupArgs(b, VM));
  expect(r.exitCode, r.stderr).toBe(0);
  expect(commandsWith(b, 'createsnapshot')).toHaveLength(1);
  expect(commandsWith(b, 'removesnapshots')).toHaveLength(1);
  // No backup snapshot, the .vmx back on the original disks, no delta or .vmsn of ours, the .vmsd as hostd left it.
  expectNothingLeft(b, VM, before, { dir: false });
  expect(vm.snapshots).toEqual([]);

  const out = outDir(b, VM);
  for (const d of await verifyExport(out)) expect(d.ok, `${d.descriptorFile} verifies against its catalog`).toBe(true);
  vm.guest.stop();
  const events = vm.guest.events.slice(from);
  const snapAt = markerIndex(events, 'snapshot.created');
  expect(snapAt).toBeGreaterThanOrEqual(0);
  const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt);
  const catalog = parseCatalog(readFileSync(join(out, 'catalog'), 'utf8'));
  expect(catalog.disks).toHaveLength(2);
  for (let i = 0; i < 2; i++) {
    expect(catalog.disks[i]!.extentFiles).toHaveLength(1);
    expect(readFileSync(join(out, catalog.disks[i]!.extentFiles[0]!)).equals(atSnapshot[i]!), `disk ${i} at the snapshot instant`).toBe(true);
  }
  // Removing the snapshot committed every guest write made meanwhile.
  const everything = replayWrites(initial, events, FAST_GUEST.seed);
  for (let i = 0; i < 2; i++) expect(vm.readDisk(i).equals(everything[i]!), `disk ${i} after consolidation`).toBe(true);
  return r.stderr;
}

test('a stale .vmsd (listing long-removed snapshots, not ours): the backup succeeds, removes its snapshot and is exact', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'stale' })], [], ESX3);
  bench.sim.esx.vfs.writeFile(vmsdPath(bench), STALE_VMSD);
  const stderr = await backupAndCheck(bench);
  expect(stderr).toContain('out of step');
  expect(bench.sim.esx.vfs.readFile(vmsdPath(bench)).toString('utf8')).toBe(STALE_VMSD);
});

test('a missing .vmsd: the backup succeeds, removes its snapshot and is exact', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'missing' })], [], ESX3);
  expect(bench.sim.esx.vfs.stat(vmsdPath(bench))).toBeFalsy();
  await backupAndCheck(bench);
  expect(bench.sim.esx.vfs.stat(vmsdPath(bench))).toBeFalsy();
});

test('hassnapshot says 1 but the .vmsd lists none: refused before any snapshot is created, nothing changed', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'stale', snapshots: [{ name: 'admin-snap', description: 'kept' }] })], [], ESX3);
  const before = footprint(bench.sim, VM);
  const r = await cli(backupArgs(bench, VM));
  expect(r.exitCode, r.stderr).toBe(6);
  const text = message(r.stderr);
  expect(text).toContain(`VM "${VM}"`);
  expect(text).toContain('hassnapshot says 1');
  expect(text).toMatch(/vm1\.vmsd lists none/);
  expect(text).toContain('nothing was changed');
  expect(text).toContain('service mgmt-vmware restart');
  expect(commandsWith(bench, 'createsnapshot')).toEqual([]);
  expect(commandsWith(bench, 'removesnapshots')).toEqual([]);
  expectNothingLeft(bench, VM, before);
  expect(bench.sim.esx.vm(VM).snapshots.map((s) => s.name)).toEqual(['admin-snap']);
});

test('hassnapshot says 1 and there is no .vmsd: refused before any snapshot is created, nothing changed', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'missing', snapshots: [{ name: 'admin-snap' }] })], [], ESX3);
  const before = footprint(bench.sim, VM);
  const r = await cli(backupArgs(bench, VM));
  expect(r.exitCode, r.stderr).toBe(6);
  expect(message(r.stderr)).toMatch(/hassnapshot says 1\) but \S*vm1\.vmsd cannot be read \(.*No such file/);
  expect(commandsWith(bench, 'createsnapshot')).toEqual([]);
  expectNothingLeft(bench, VM, before);
});

test('disk chains that cannot be read just before the create: refused before any snapshot is created', async () => {
  // The disks step reads the first descriptor once; the second read is the one taken before the create.
  bench = await startBench([vmSpec(VM, { vmsd: 'stale' })], [{ match: '^cat \\S*/vm1\\.vmdk$', nth: 2, action: 'fail', stderr: 'cat: read error: Input/output error' }], ESX3);
  const before = footprint(bench.sim, VM);
  const r = await cli(backupArgs(bench, VM));
  expect(bench.sim.faults.fired).toHaveLength(1);
  expect(r.exitCode, r.stderr).toBe(6);
  expect(message(r.stderr)).toMatch(/cannot read the disk chains of vm1 .*Input\/output error.*no snapshot was created/);
  expect(commandsWith(bench, 'createsnapshot')).toEqual([]);
  expectNothingLeft(bench, VM, before);
});

/** Kills a backup of the VM while it reads the disks: its snapshot stays on the VM and its journal stays open. */
async function killDuringExport(b: Bench): Promise<void> {
  slowExport(b.sim);
  const child = cli(backupArgs(b, VM));
  await waitForExport(b.sim);
  child.kill('SIGKILL');
  expect((await child).signal).toBe('SIGKILL');
  b.sim.faults.clear();
  expect(b.sim.esx.vm(VM).snapshots.map((s) => s.name)).toEqual([SNAP]);
}

test('a run killed after its create on a stale .vmsd: cleanup removes its snapshot by the journaled evidence', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'stale' })], [], ESX3);
  const before = footprint(bench.sim, VM);
  await killDuringExport(bench);
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expect(commandsWith(bench, 'removesnapshots')).toHaveLength(1);
  expectNothingLeft(bench, VM, before);
  expect((await cli(['cleanup', '--list', '--state-dir', bench.stateDir])).stdout).toContain('no interrupted runs');
});

test('a run killed after its create on a missing .vmsd: the next backup removes the old snapshot first and succeeds', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'missing' })], [], ESX3);
  const before = footprint(bench.sim, VM);
  await killDuringExport(bench);
  const next = await cli(backupArgs(bench, VM));
  expect(next.exitCode, next.stderr).toBe(0);
  expect(next.stderr).toMatch(/releasing what an interrupted run .* left behind/);
  expect(commandsWith(bench, 'removesnapshots')).toHaveLength(2);
  expectNothingLeft(bench, VM, before, { dir: false });
});

test('a snapshot taken by someone else after the killed run\'s create: cleanup removes nothing and says what it saw', async () => {
  bench = await startBench([vmSpec(VM, { vmsd: 'stale' })], [], ESX3);
  await killDuringExport(bench);
  const vm = bench.sim.esx.vm(VM);
  await vm.createSnapshot({ name: 'admin-after', description: '', quiesce: false, memory: false });
  const disks = [vm.diskPath(0), vm.diskPath(1)];
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(8);
  const text = message(c.stderr);
  expect(text).toMatch(/scsi0:0 has 3 links .* 1 before the create/);
  expect(text).toContain('Snapshot Manager');
  expect(commandsWith(bench, 'removesnapshots')).toEqual([]);
  expect(vm.snapshots.map((s) => s.name)).toEqual([SNAP, 'admin-after']);
  expect([vm.diskPath(0), vm.diskPath(1)]).toEqual(disks);
});
