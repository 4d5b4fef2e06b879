// Snapshot policies through the CLI: a leftover _VCB-BACKUP_ snapshot, VMs without Tools, --require-quiesce, --dry-run.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const IDLE = { writesPerSecond: 0 };
let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      { name: 'left', vmid: 81, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 50, flushIntervalMs: 20, seed: 3 } },
      { name: 'notools', vmid: 82, tools: { installed: false, running: false }, disks: [{ size: '16M', fillBytes: '1M' }], guest: IDLE },
    ]),
  );
});
afterAll(async () => bench?.stop());

function snapshotCommands(from: number): string[][] {
  return bench.sim.commandLog
    .slice(from)
    .map((c) => c.argv)
    .filter((a) => a[0] === 'vim-cmd' && /^vmsvc\/snapshot\.(create|remove)$/.test(a[1]!));
}

test('a leftover backup snapshot stops the run (exit 6) unless --preexisting-snapshot delete removes it first', async () => {
  const vm = bench.sim.esx.vm('left');
  const made = await bench.sim.exec(`vim-cmd vmsvc/snapshot.create 81 ${SNAPSHOT_NAME} 'left by a crashed run' 0 0`);
  expect(made.exitCode, made.stderr).toBe(0);
  const leftover = vm.snapshots.find((s) => s.name === SNAPSHOT_NAME)!;

  let from = bench.sim.commandLog.length;
  const refused = await bench.cli(['-a', 'name:left', '-r', join(bench.work, 'refused')]);
  expect(refused.exitCode).toBe(6);
  expect(refused.stderr).toMatch(/vcbmounter cleanup/);
  expect(refused.stderr).toMatch(/--preexisting-snapshot delete/);
  expect(snapshotCommands(from)).toEqual([]);
  expect(vm.snapshots.map((s) => s.uid)).toEqual([leftover.uid]);

  from = bench.sim.commandLog.length;
  const initial = [vm.readDisk(0)];
  const eventsFrom = vm.guest.events.length;
  const out = join(bench.work, 'replaced');
  const r = await bench.cli(['-a', 'name:left', '-r', out, '--preexisting-snapshot', 'delete']);
  expect(r.exitCode, r.stderr).toBe(0);
  const cmds = snapshotCommands(from);
  expect(cmds.map((a) => a[1])).toEqual(['vmsvc/snapshot.remove', 'vmsvc/snapshot.create', 'vmsvc/snapshot.remove']);
  expect(cmds[0]).toEqual(['vim-cmd', 'vmsvc/snapshot.remove', '81', String(leftover.uid)]);
  expect(cmds[1]!.slice(2, 4)).toEqual(['81', SNAPSHOT_NAME]);
  expect(cmds[2]![3]).not.toBe(String(leftover.uid));
  const events = vm.guest.events.slice(eventsFrom);
  expect(markerIndex(events, 'snapshot.created')).toBeGreaterThanOrEqual(0);
  expect(markerIndex(events, 'snapshot.created', markerIndex(events, 'snapshot.created') + 1)).toBe(-1);
  expect(vm.snapshots).toHaveLength(0);
  const catalog = readCatalog(out);
  expect(catalog.snapshot.name).toBe(SNAPSHOT_NAME);
  expect(catalog.disks[0]!.snapshotDeltas).toEqual([]);
  const expected = replayWrites(initial, events, 3, markerIndex(events, 'snapshot.created'))[0]!;
  expect(readFileSync(join(out, catalog.disks[0]!.extentFiles[0]!)).equals(expected)).toBe(true);
});

test('a VM without Tools gets a crash-consistent backup with a warning; --require-quiesce refuses it (exit 6)', async () => {
  const out = join(bench.work, 'notools');
  const r = await bench.cli(['-a', 'name:notools', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/VMware Tools are not running in notools: the backup is crash-consistent/);
  expect(r.stdout).toMatch(/crash-consistent/);
  expect(readCatalog(out).snapshot.quiesced).toBe(false);

  const from = bench.sim.commandLog.length;
  const strict = join(bench.work, 'notools-strict');
  const refused = await bench.cli(['-a', 'name:notools', '-r', strict, '--require-quiesce']);
  expect(refused.exitCode).toBe(6);
  expect(refused.stderr).toMatch(/--require-quiesce/);
  expect(snapshotCommands(from)).toEqual([]);
  expect(existsSync(strict)).toBe(false);
  expect(bench.sim.esx.vm('notools').snapshots).toHaveLength(0);
});

test('--dry-run prints the steps and contacts nothing', async () => {
  const from = bench.sim.commandLog.length;
  const out = join(bench.work, 'dry');
  const r = await bench.cli(['-a', 'name:left', '-r', out, '--dry-run']);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^1\. connect: .*127\.0\.0\.1/m);
  expect(r.stdout).toMatch(/snapshot/);
  expect(r.stdout).toMatch(/export/);
  expect(bench.sim.commandLog.length).toBe(from);
  expect(existsSync(out)).toBe(false);
});
