// A fullvm backup of a VM on an ESX 3.x host, driven through vmware-cmd, byte for byte.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const GUEST = { writesPerSecond: 100, flushIntervalMs: 20, seed: 9 };
let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([{ name: 'old-vm', vmid: 91, disks: [{ size: '16M', thin: false, fillBytes: '2M' }], guest: GUEST }], { kind: 'esx3' }),
  );
});
afterAll(async () => bench?.stop());

test('name: selects the VM and the backup runs through vmware-cmd', async () => {
  const vm = bench.sim.esx.vm('old-vm');
  const initial = [vm.readDisk(0)];
  const from = vm.guest.events.length;
  const out = join(bench.work, 'out');
  const r = await bench.cli(['-a', 'name:old-vm', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);

  const programs = new Set(bench.sim.commandLog.map((c) => c.argv[0]));
  expect(programs.has('vmware-cmd')).toBe(true);
  const vimCmd = bench.sim.commandLog.filter((c) => c.argv[0] === 'vim-cmd');
  expect(vimCmd.every((c) => c.exitCode === 127)).toBe(true);
  const snapshotCalls = bench.sim.commandLog.map((c) => c.argv).filter((a) => a[0] === 'vmware-cmd' && a.some((x) => /snapshot/i.test(x)));
  expect(snapshotCalls.some((a) => a.includes('createsnapshot'))).toBe(true);
  expect(snapshotCalls.some((a) => a.includes('removesnapshots') || a.includes('removesnapshot'))).toBe(true);

  const events = vm.guest.events.slice(from);
  const snapAt = markerIndex(events, 'snapshot.created');
  expect(snapAt).toBeGreaterThanOrEqual(0);
  const catalog = readCatalog(out);
  expect(catalog.host.version).toMatch(/ESX Server 3/);
  expect(catalog.vm.name).toBe('old-vm');
  expect(catalog.snapshot.name).toBe(SNAPSHOT_NAME);
  const expected = replayWrites(initial, events, GUEST.seed, snapAt)[0]!;
  expect(readFileSync(join(out, catalog.disks[0]!.extentFiles[0]!)).equals(expected)).toBe(true);
  expect(vm.snapshots).toHaveLength(0);
});

test('a VM with a user snapshot on ESX 3.x is refused before any snapshot is taken (ours could not be removed alone)', async () => {
  await bench.stop();
  bench = await startBench(
    smallInventory([{ name: 'kept', vmid: 92, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 }, snapshots: [{ name: 'admin-snap' }] }], { kind: 'esx3' }),
  );
  const vm = bench.sim.esx.vm('kept');
  const before = vm.snapshots.map((s) => s.uid);
  const r = await bench.cli(['-a', 'name:kept', '-r', join(bench.work, 'kept')]);
  expect(bench.sim.commandLog.some((c) => c.argv.includes('createsnapshot'))).toBe(false);
  expect(r.exitCode).toBe(6);
  expect(r.stderr).toMatch(/ESX 3/);
  expect(r.stderr).toContain('admin-snap');
  expect(vm.snapshots.map((s) => s.uid)).toEqual(before);
});
