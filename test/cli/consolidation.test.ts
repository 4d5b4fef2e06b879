// ESXi 5+ removals that leave the disks unconsolidated (consolidationNeeded): the run consolidates them, or says plainly that it could not and exits 8; cleanup finishes it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      { name: 'once', vmid: 71, disks: [{ size: '16M', fillBytes: '2M' }], guest: FAST_GUEST, consolidation: { unconsolidatedRemovals: 1 } },
      {
        name: 'stuck',
        vmid: 72,
        disks: [{ size: '16M', fillBytes: '2M' }],
        guest: FAST_GUEST,
        snapshots: [{ name: 'user', description: 'kept' }],
        consolidation: { unconsolidatedRemovals: 1, failingConsolidations: 1000 },
      },
    ]),
  );
});
afterAll(async () => bench?.stop());

const cleanup = (...extra: string[]) =>
  bench.cli(
    ['cleanup', '-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-', ...extra],
    { bare: true, input: `${bench.sim.password}\n` },
  );
const consolidations = (from: number) => bench.sim.commandLog.slice(from).filter((c) => c.argv[1] === 'vmsvc/snapshot.consolidate');

test('consolidation needed once: the run consolidates the disks, exits 0 and warns; the export is byte-exact and every guest write is kept', async () => {
  const { sim } = bench;
  const vm = sim.esx.vm('once');
  const base = vm.diskPath(0);
  const initial = [vm.readDisk(0)];
  const from = vm.guest.events.length;
  const commandsFrom = sim.commandLog.length;
  const out = join(bench.work, 'out-once');
  const r = await bench.cli(['-a', 'name:once', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/left its disks unconsolidated \(consolidationNeeded\)/);
  const warning = readCatalog(out).warnings.find((w) => w.includes('consolidat'));
  expect(warning).toMatch(/was removed, but .* left its disks unconsolidated .*; vcbmounter consolidated them \(`vim-cmd vmsvc\/snapshot\.consolidate 71`, 1 attempt\(s\)\)/);
  expect(consolidations(commandsFrom)).toHaveLength(1);

  const events = vm.guest.events.slice(from);
  const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, markerIndex(events, 'snapshot.created'));
  const disk = readCatalog(out).disks[0]!;
  expect(readFileSync(join(out, disk.extentFiles[0]!)).equals(atSnapshot[0]!)).toBe(true);
  expect(vm.consolidationNeeded).toBe(false);
  expect(vm.diskPath(0)).toBe(base);
  expect(vm.snapshots).toHaveLength(0);
  const everything = replayWrites(initial, vm.guest.events.slice(from), FAST_GUEST.seed);
  expect(vm.readDisk(0).equals(everything[0]!)).toBe(true);
});

test('consolidation needed and every consolidate failing: exit 8 with a plain message, never 0; cleanup finishes it once the host can', async () => {
  const { sim } = bench;
  const vm = sim.esx.vm('stuck');
  const users = vm.snapshots.map((s) => [s.uid, s.name, s.parent]);
  const top = vm.diskPath(0);
  const initial = [vm.readDisk(0)];
  const from = vm.guest.events.length;
  const commandsFrom = sim.commandLog.length;
  const out = join(bench.work, 'out-stuck');
  const r = await bench.cli(['-a', 'name:stuck', '-r', out, '--cleanup-timeout', '20']);
  expect(r.exitCode, r.stderr).toBe(8);
  const message = r.stderr;
  expect(message).toMatch(/the backup in .* is complete, but left behind/);
  expect(message).toMatch(/_VCB-BACKUP_ snapshot of stuck \(disks not consolidated: the snapshot itself was removed, but .* left the disks of stuck unconsolidated \(consolidationNeeded\), so the VM still runs on the snapshot's delta/);
  expect(message).toMatch(/3 of 3 consolidation attempt\(s\) failed \(last: .*FileLocked/);
  expect(message).toContain('`vim-cmd vmsvc/snapshot.consolidate 72`');
  expect(message).toMatch(/vcbmounter cleanup -h /);
  // Bounded: three attempts when the snapshot was removed, three more in the final unwind.
  expect(consolidations(commandsFrom)).toHaveLength(6);
  expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
  expect(vm.consolidationNeeded).toBe(true);
  expect(vm.diskPath(0)).not.toBe(top);

  // While the host still fails, cleanup says so and keeps the run open.
  const stillStuck = await cleanup();
  expect(stillStuck.exitCode, stillStuck.stderr).toBe(8);
  expect(stillStuck.stderr).toMatch(/the VM still runs on the snapshot's delta/);

  vm.state.consolidationFaults!.failingConsolidations = 0;
  const done = await cleanup();
  expect(done.exitCode, done.stderr).toBe(0);
  expect(vm.consolidationNeeded).toBe(false);
  expect(vm.diskPath(0)).toBe(top);
  expect(vm.snapshots.map((s) => [s.uid, s.name, s.parent])).toEqual(users);
  const everything = replayWrites(initial, vm.guest.events.slice(from), FAST_GUEST.seed);
  expect(vm.readDisk(0).equals(everything[0]!)).toBe(true);
  expect((await bench.cli(['cleanup', '--list', '--state-dir', bench.stateDir], { bare: true })).stdout).toContain('no interrupted runs');
}, 120_000);
