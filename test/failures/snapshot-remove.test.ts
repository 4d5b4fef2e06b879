// The export is complete but the host refuses to remove the backup snapshot: retried during cleanup, else exit 8 and `vcbmounter cleanup`.

import { existsSync } from 'node:fs';
import { afterEach, expect, test, vi } from 'vitest';
import { backupArgs, cli, expectNothingLeft, footprint, message, outDir, SNAP, startBench, vmSpec, waitUntil, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

const REMOVE = 'vim-cmd vmsvc/snapshot.remove';

test('one failed snapshot.remove after a complete export is retried during cleanup: exit 0, backup kept, snapshot gone', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: REMOVE, action: 'fail', times: 1, exitCode: 1, stderr: 'vim.fault.TaskInProgress: injected busy host' }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(0);
  expect(bench.sim.faults.fired).toHaveLength(1);
  expect(bench.sim.commandLog.filter((c) => c.argv.join(' ').startsWith(REMOVE)).map((c) => c.exitCode)).toEqual([1, 0]);
  expect(existsSync(`${outDir(bench, 'vm1')}/vm1.vmx`)).toBe(true);
  expectNothingLeft(bench, 'vm1', before, { dir: false });
});

test('snapshot.remove failing every time: exit 8 saying the backup is complete and what is left; cleanup later removes it; a second cleanup has nothing to do', async () => {
  bench = await startBench([vmSpec('vm1', { snapshots: [{ name: 'user-snap', description: 'the admin\'s' }] })], [
    { match: REMOVE, action: 'fail', times: 99, exitCode: 1, stderr: 'vim.fault.TaskInProgress: injected busy host' },
  ]);
  const before = footprint(bench.sim, 'vm1');
  expect(before.userSnapshots).toHaveLength(1);
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(8);
  const msg = message(r.stderr);
  expect(msg).toContain('VM "vm1"');
  expect(msg).toContain('step cleanup');
  expect(msg).toContain('injected busy host');
  expect(msg).toContain(REMOVE);
  expect(msg).toContain(`the backup in ${outDir(bench, 'vm1')} is complete`);
  expect(msg).toContain(`left behind: ${SNAP} snapshot of vm1`);
  expect(msg).toContain('vcbmounter cleanup');
  expect(existsSync(`${outDir(bench, 'vm1')}/vm1.vmx`)).toBe(true);
  expect(bench.sim.esx.vm('vm1').snapshots.map((s) => s.name)).toEqual(['user-snap', SNAP]);

  const list = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(list.exitCode).toBe(0);
  expect(list.stdout).toContain('vm "vm1"');
  expect(list.stdout).toContain(`${SNAP} snapshot of vm1`);

  const stillFailing = await cli(['cleanup', ...bench.connect]);
  expect(stillFailing.exitCode).toBe(8);
  expect(stillFailing.stderr).toContain('injected busy host');

  bench.sim.faults.clear();
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode).toBe(0);
  expect(c.stdout).toMatch(/cleaned up run .*vm1/);
  expectNothingLeft(bench, 'vm1', before, { dir: false });
  expect(existsSync(`${outDir(bench, 'vm1')}/vm1.vmx`)).toBe(true);

  const again = await cli(['cleanup', ...bench.connect]);
  expect(again.exitCode).toBe(0);
  expect(again.stdout).toContain('no interrupted runs');
});

test('a snapshot remove slower than --cleanup-timeout: the run records what it abandoned and exits 8 instead of hanging', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: REMOVE, action: 'slow', delayMs: 6_000 }]);
  const before = footprint(bench.sim, 'vm1');
  const started = Date.now();
  const r = await cli(backupArgs(bench, 'vm1', ['--cleanup-timeout', '2']));
  // Bounded by the cleanup timeout and the bin's last-resort exit, not by the host's 6 s.
  expect(r.timedOut).toBe(false);
  expect(r.exitCode).toBe(8);
  expect(Date.now() - started).toBeLessThan(30_000);
  expect(message(r.stderr)).toContain(`left behind: ${SNAP} snapshot of vm1`);
  const list = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(list.stdout).toContain(`${SNAP} snapshot of vm1`);
  // The abandoned remove may still finish on the host; cleanup then finds nothing of ours, or removes it.
  bench.sim.faults.clear();
  await new Promise((resolve) => setTimeout(resolve, 6_500));
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expectNothingLeft(bench, 'vm1', before, { dir: false });
});

test('a snapshot that something else removes while the disks are read: the backup is not consistent, exit 6, no export', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: '^dd ', action: 'slow', bytesPerSecond: 2 * 1024 * 1024 }]);
  const before = footprint(bench.sim, 'vm1');
  const child = cli(backupArgs(bench, 'vm1'));
  const vm = bench.sim.esx.vm('vm1');
  await waitUntil(() => bench!.sim.faults.fired.some((f) => f.argv[0] === 'dd'), 'the export to start', 40_000);
  // Another tool (or a run with --preexisting-snapshot delete) removes our snapshot mid-read.
  const ours = vm.snapshots.find((s) => s.name === SNAP)!;
  vm.removeSnapshot(ours.uid);
  const r = await child;
  expect(r.exitCode).toBe(6);
  expect(message(r.stderr)).toMatch(/step export: .*removed by something else while its disks were read/);
  expect(existsSync(outDir(bench, 'vm1'))).toBe(false);
  expectNothingLeft(bench, 'vm1', before);
});
