// Failures while exporting: a dd fails mid-way, the SSH connection drops, and the snapshot removal fails too.

import { existsSync } from 'node:fs';
import { afterEach, expect, test, vi } from 'vitest';
import { backupArgs, cli, expectNothingLeft, footprint, outDir, message, partialSiblings, SNAP, startBench, vmSpec, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

test('a dd that fails mid-export exits 7 naming the command; the snapshot and the partial directory are removed', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: '^dd ', action: 'fail', nth: 2, exitCode: 1, stderr: 'dd: injected read error' }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(7);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step export');
  expect(r.stderr).toMatch(/dd /);
  expect(r.stderr).toContain('injected read error');
  expectNothingLeft(bench, 'vm1', before);
});

test('an SSH connection dropped mid-export: the run reconnects to remove the snapshot and exits 7', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: '^dd ', action: 'drop', nth: 2 }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(7);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step export');
  expect(r.stderr).toMatch(/connection .* lost/);
  expect(r.stderr).toMatch(/command: dd /);
  expect(bench.sim.faults.fired.map((f) => f.action)).toEqual(['drop']);
  const removals = bench.sim.commandLog.filter((c) => c.argv.join(' ').includes('snapshot.remove'));
  expect(removals.map((c) => c.exitCode)).toEqual([0]);
  expect(removals[0]!.session).not.toBe(bench.sim.faults.fired[0]!.session);
  expectNothingLeft(bench, 'vm1', before);
});

test('export fails and the snapshot removal fails too: exit 8, the message has both errors and what is left', async () => {
  bench = await startBench([vmSpec('vm1')], [
    { match: '^dd ', action: 'fail', nth: 2, exitCode: 1, stderr: 'dd: injected read error' },
    { match: 'vim-cmd vmsvc/snapshot.remove', action: 'fail', exitCode: 1, stderr: 'vim.fault.GenericVmConfigFault: injected remove failure' },
  ]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(8);
  expect(r.stderr).toContain('VM "vm1"');
  expect(r.stderr).toContain('step export');
  expect(r.stderr).toContain('injected read error');
  expect(r.stderr).toContain('injected remove failure');
  expect(message(r.stderr)).toMatch(/^vcbmounter: .*injected read error.*left behind: .*injected remove failure/);
  // Each cause once, and the advice once.
  expect(message(r.stderr).match(/injected read error/g)).toHaveLength(1);
  expect(message(r.stderr).match(/injected remove failure/g)).toHaveLength(1);
  expect(message(r.stderr).match(/vcbmounter cleanup/g)).toHaveLength(1);
  expect(r.stderr).toMatch(/left behind: _VCB-BACKUP_ snapshot of vm1/);
  expect(r.stderr).toContain('vcbmounter cleanup');
  expect(r.stderr).not.toContain('original error followed by cleanup errors');
  const ours = bench.sim.esx.vm('vm1').snapshots.filter((s) => s.name === SNAP);
  expect(ours).toHaveLength(1);
  expect(existsSync(outDir(bench, 'vm1'))).toBe(false);
  expect(partialSiblings(outDir(bench, 'vm1'))).toEqual([]);

  bench.sim.faults.clear();
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode).toBe(0);
  expectNothingLeft(bench, 'vm1', before);
});

test('the VM\'s datastore fills up mid-export: the backup completes, the snapshot cannot be consolidated yet (exit 8 naming the full datastore); cleanup removes it once there is room', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: '^dd ', action: 'fill', nth: 2 }]);
  const before = footprint(bench.sim, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(8);
  const text = message(r.stderr);
  expect(text).toContain(`the backup in ${outDir(bench, 'vm1')} is complete`);
  expect(text).toMatch(/left behind: _VCB-BACKUP_ snapshot of vm1 \(.*(Insufficient disk space|outofspace)/);
  expect(text).not.toMatch(/\.vmx/);
  for (const d of bench.sim.esx.vfs.datastores()) bench.sim.esx.vfs.setFull(d.name, false);
  bench.sim.faults.clear();
  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expectNothingLeft(bench, 'vm1', before, { dir: false });
});
