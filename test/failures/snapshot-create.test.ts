// Failures while taking the backup snapshot: a failed create, a failing freeze script, a hang, a full datastore.

import { afterEach, expect, test, vi } from 'vitest';
import { listOpenRuns } from '../../src/engine/index.js';
import { backupArgs, cli, expectNothingLeft, footprint, message, scriptsRun, SNAP, startBench, vmSpec, waitUntil, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

test('a failed snapshot.create exits 6 naming the VM, step and command; nothing is left', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: 'vim-cmd vmsvc/snapshot.create', action: 'fail', exitCode: 1, stderr: 'vim.fault.GenericVmConfigFault: injected create failure' }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(6);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step snapshot');
  expect(r.stderr).toMatch(/vim-cmd vmsvc\/snapshot\.create/);
  expect(r.stderr).toContain('injected create failure');
  expectNothingLeft(bench, 'vm1', before);
});

test('a failing freeze script exits 6: scripts get freezeFail in reverse, post-thaw runs, the message suggests --no-quiesce', async () => {
  bench = await startBench([
    vmSpec('vm1', { quiesce: { backupScripts: [{ name: '10-a' }, { name: '20-b', freezeExit: 1 }], preFreeze: { exitCode: 0 }, postThaw: { exitCode: 0 } } }),
  ]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(6);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step snapshot');
  expect(r.stderr).toContain('20-b');
  expect(r.stderr).toContain('--no-quiesce');
  expect(scriptsRun(bench.sim, 'vm1')).toEqual([
    'pre-freeze-script freeze',
    '10-a freeze',
    '20-b freeze',
    '20-b freezeFail',
    '10-a freezeFail',
    'post-thaw-script freezeFail',
  ]);
  expectNothingLeft(bench, 'vm1', before);
});

test('a snapshot.create that never answers is cut off by --snapshot-timeout: exit 8, and cleanup waits until the create could have finished before closing the run', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: 'vim-cmd vmsvc/snapshot.create', action: 'hang' }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1', ['--snapshot-timeout', '2', '--cleanup-timeout', '10']));
  expect(r.timedOut).toBe(false);
  expect(r.exitCode).toBe(8);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step snapshot');
  expect(r.stderr).toMatch(/timed out|timeout/i);
  expect(r.stderr).toContain('snapshot.create');
  expect(r.stderr).toContain('may still be creating');
  expect(r.stderr).toContain('vcbmounter cleanup');
  const listed = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(listed.exitCode).toBe(0);
  expect(listed.stdout).toContain('_VCB-BACKUP_ snapshot of vm1');
  bench.sim.faults.clear();
  // Within two snapshot timeouts of the create (settleBy, journaled before it), "not there" is not believed.
  const settleBy = Number(listOpenRuns(bench.stateDir)[0]!.outstanding.find((o) => o.kind === 'snapshot')!.resource.settleBy);
  const early = await cli(['cleanup', ...bench.connect]);
  if (early.exitCode === 0) expect(Date.now()).toBeGreaterThanOrEqual(settleBy);
  else {
    expect(early.exitCode).toBe(8);
    expect(early.stderr).toContain('still waiting');
    expect((await cli(['cleanup', '--list', '--state-dir', bench.stateDir])).stdout).toContain('_VCB-BACKUP_ snapshot of vm1');
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, settleBy + 500 - Date.now())));
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  const again = await cli(['cleanup', '--list', '--state-dir', bench.stateDir]);
  expect(again.stdout).toContain('no interrupted runs');
  expectNothingLeft(bench, 'vm1', before);
});

test('a create that completes on the host after a kill -9: cleanup run at once keeps waiting, and removes the snapshot once it appears', async () => {
  // The host answers 6 s after the create started: the first cleanup, a new process on a possibly loaded machine, comes well before.
  bench = await startBench([vmSpec('vm1')], [{ match: 'vim-cmd vmsvc/snapshot.create', action: 'late', delayMs: 6_000 }]);
  const before = footprint(bench.sim, 'vm1');
  const child = cli(backupArgs(bench, 'vm1', ['--snapshot-timeout', '3']));
  await waitUntil(() => bench!.sim.faults.fired.some((f) => f.action === 'late'), 'the create to start', 30_000);
  child.kill('SIGKILL');
  await child;
  const early = await cli(['cleanup', ...bench.connect]);
  expect(early.exitCode).toBe(8);
  expect(early.stderr).toContain('still waiting');
  // The host finishes the create after the client is gone.
  await waitUntil(() => bench!.sim.esx.vm('vm1').snapshots.some((s) => s.name === SNAP), 'the late snapshot to appear', 20_000);
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expect(c.stdout).toContain('_VCB-BACKUP_ snapshot of vm1');
  expect((await cli(['cleanup', '--list', '--state-dir', bench.stateDir])).stdout).toContain('no interrupted runs');
  expectNothingLeft(bench, 'vm1', before);
});

test('a datastore that fills up during snapshot.create exits 6 mentioning space; nothing is left', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: 'vim-cmd vmsvc/snapshot.create', action: 'fill' }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(6);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step snapshot');
  expect(r.stderr).toMatch(/space/i);
  // The cause is the datastore, not the guest: no advice about freeze scripts or --no-quiesce.
  expect(message(r.stderr)).toMatch(/^vcbmounter: .*datastore holding the VM has no room/);
  expect(r.stderr).not.toMatch(/--no-quiesce|freeze script/);
  expectNothingLeft(bench, 'vm1', before);
});

test('a clean run of the same bench succeeds (the checks above can tell a left-over from nothing)', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(0);
  expect(bench.sim.esx.vm('vm1').snapshots).toEqual([]);
});
