// Interrupts mid-export: SIGINT and SIGTERM clean up and exit 130/143; kill -9 leaves a journal that cleanup or the next run releases.

import { existsSync } from 'node:fs';
import { afterEach, expect, test, vi } from 'vitest';
import {
  backupArgs,
  cli,
  expectNothingLeft,
  footprint,
  message,
  outDir,
  partialSiblings,
  SNAP,
  slowExport,
  startBench,
  vmSpec,
  waitForExport,
  waitUntil,
  type Bench,
} from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  test(`${signal} mid-export cleans up: exit ${code}, snapshot removed, no partial directory, quiesce scripts released`, async () => {
    bench = await startBench([vmSpec('vm1', { quiesce: { backupScripts: [{ name: '10-a' }], postThaw: { exitCode: 0 } } })]);
    slowExport(bench.sim);
    const before = footprint(bench.sim, 'vm1');
    const child = cli(backupArgs(bench, 'vm1'));
    await waitForExport(bench.sim);
    expect(bench.sim.esx.vm('vm1').snapshots.filter((s) => s.name === SNAP)).toHaveLength(1);
    child.kill(signal);
    const r = await child;
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(code);
    const msg = message(r.stderr);
    expect(msg).toContain('interrupted: cleaning up');
    expect(msg).toContain(`interrupted by ${signal}`);
    expect(msg).toContain('step export');
    const scripts = bench.sim.esx.vm('vm1').guest.events.filter((e) => e.ev === 'script').map((e) => (e.ev === 'script' ? e.args[0] : ''));
    expect(scripts).toEqual(['freeze', 'thaw', 'thaw']);
    expectNothingLeft(bench, 'vm1', before);
  });
}

test('kill -9 mid-export leaves the snapshot; cleanup --list shows the run; cleanup removes only our snapshot and the partial directory', async () => {
  bench = await startBench([vmSpec('vm1', { snapshots: [{ name: 'user-snap', description: 'keep me' }] })]);
  slowExport(bench.sim);
  const before = footprint(bench.sim, 'vm1');
  const child = cli(backupArgs(bench, 'vm1'));
  await waitForExport(bench.sim);
  child.kill('SIGKILL');
  const r = await child;
  expect(r.signal).toBe('SIGKILL');
  expect(bench.sim.esx.vm('vm1').snapshots.map((s) => s.name)).toEqual(['user-snap', SNAP]);
  expect(partialSiblings(outDir(bench, 'vm1'))).toHaveLength(1);

  const list = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(list.exitCode).toBe(0);
  expect(list.stdout).toContain(`pid ${child.pid} (dead)`);
  expect(list.stdout).toContain('vm "vm1"');
  expect(list.stdout).toContain(`${SNAP} snapshot of vm1`);
  expect(list.stdout).toContain('unfinished export');

  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode).toBe(0);
  expect(bench.sim.esx.vm('vm1').snapshots.map((s) => s.name)).toEqual(['user-snap']);
  expectNothingLeft(bench, 'vm1', before);

  const again = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(again.stdout).toContain('no interrupted runs');
});

test('after a kill -9, the next backup of the same VM takes over the stale lock, removes the old snapshot and succeeds', async () => {
  bench = await startBench([vmSpec('vm1')]);
  slowExport(bench.sim);
  const before = footprint(bench.sim, 'vm1');
  const child = cli(backupArgs(bench, 'vm1'));
  await waitForExport(bench.sim);
  child.kill('SIGKILL');
  await child;
  const oldSnapshot = bench.sim.esx.vm('vm1').snapshots.find((s) => s.name === SNAP);
  expect(oldSnapshot).toBeDefined();
  bench.sim.faults.clear();

  const next = await cli(backupArgs(bench, 'vm1'));
  expect(next.exitCode).toBe(0);
  expect(next.stderr).toContain('taking over stale lock');
  expect(next.stderr).toMatch(/releasing what an interrupted run .* left behind/);
  expect(existsSync(`${outDir(bench, 'vm1')}/vm1.vmx`)).toBe(true);
  expect(partialSiblings(outDir(bench, 'vm1'))).toEqual([]);
  expectNothingLeft(bench, 'vm1', before, { dir: false });
  const removed = bench.sim.commandLog.filter((c) => c.argv.join(' ').startsWith('vim-cmd vmsvc/snapshot.remove'));
  expect(removed.map((c) => c.argv[3])).toContain(String(oldSnapshot!.uid));

  const list = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(list.stdout).toContain('no interrupted runs');
});

test('a second Ctrl-C while cleanup hangs forces exit 130 and leaves the run in the journal; cleanup later releases it', async () => {
  bench = await startBench([vmSpec('vm1')]);
  slowExport(bench.sim);
  bench.sim.faults.add({ match: 'vim-cmd vmsvc/snapshot.remove', action: 'hang', times: 1 });
  const before = footprint(bench.sim, 'vm1');
  const child = cli(backupArgs(bench, 'vm1'));
  await waitForExport(bench.sim);
  child.kill('SIGINT');
  await waitUntil(() => bench!.sim.faults.fired.some((f) => f.action === 'hang'), 'cleanup to start removing the snapshot', 40_000);
  child.kill('SIGINT');
  const r = await child;
  expect(r.timedOut).toBe(false);
  expect(r.exitCode).toBe(130);
  expect(bench.sim.esx.vm('vm1').snapshots.filter((s) => s.name === SNAP)).toHaveLength(1);
  // The forced exit says what it leaves and what releases it.
  expect(message(r.stderr)).toMatch(/forced exit during cleanup; left behind: .*_VCB-BACKUP_ snapshot of vm1.*vcbmounter cleanup -h 127\.0\.0\.1 --port \d+/);

  const list = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(list.stdout).toContain(`${SNAP} snapshot of vm1`);
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode).toBe(0);
  expectNothingLeft(bench, 'vm1', before);
});
