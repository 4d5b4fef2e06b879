// vcbmounter -U DIR: releases what the run at DIR recorded as held (its state file), and refuses directories it did not make.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { execa } from 'execa';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { backupArgs, cli, expectNothingLeft, footprint, message, outDir, SNAP, startBench, vmSpec, waitUntil, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

const REMOVE = 'vim-cmd vmsvc/snapshot.remove';
const STATE = '.vcbmounter-state.json';

interface Held {
  kind: string;
  description: string;
  resource: Record<string, unknown>;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Each file of dir with its content: to show a refused -U changed nothing. */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = readFileSync(join(dir, name)).toString('base64');
  return out;
}

/** The files a complete export holds, from its own catalog: every one of them present, and the catalog and state file of one run. */
function expectCompleteExport(dir: string): { runId: string; files: string[] } {
  const catalog = readJson(join(dir, 'catalog')) as {
    runId: string;
    vm: { vmxFile: string };
    files: string[];
    disks: Array<{ descriptorFile: string; blocksFile: string; extentFiles: string[] }>;
  };
  const state = readJson(join(dir, STATE));
  expect(state.format).toBe('vcbmounter-state');
  expect(state.runId).toBe(catalog.runId);
  const files = ['catalog', STATE, catalog.vm.vmxFile, ...catalog.files, ...catalog.disks.flatMap((d) => [d.descriptorFile, d.blocksFile, ...d.extentFiles])];
  expect(catalog.disks).toHaveLength(2);
  for (const f of files) expect(existsSync(join(dir, f)), f).toBe(true);
  return { runId: catalog.runId, files: [...new Set(files)].sort() };
}

test('a backup whose snapshot could not be removed: -U without host flags refuses naming the snapshot; with them it removes the snapshot and the directory', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: REMOVE, action: 'fail', exitCode: 1, stderr: 'vim.fault.GenericVmConfigFault: injected remove failure' }]);
  const before = footprint(bench.sim, 'vm1');
  const dir = outDir(bench, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(8);
  const msg = message(r.stderr);
  expect(msg).toContain(`the backup in ${dir} is complete`);
  expect(msg).toContain(`left behind: ${SNAP} snapshot of vm1`);
  expect(msg).toContain('injected remove failure');
  expect(bench.sim.esx.vm('vm1').snapshots.filter((s) => s.name === SNAP)).toHaveLength(1);

  const { runId } = expectCompleteExport(dir);
  const state = readJson(join(dir, STATE));
  const held = state.held as Held[];
  expect(held.map((h) => h.kind)).toEqual(['export-dir', 'snapshot']);
  expect(held[0]!.resource).toEqual({ dir, runId });
  expect(held[1]!.description).toBe(`${SNAP} snapshot of vm1`);
  expect(held[1]!.resource).toMatchObject({ vm: 'vm1', description: `vcbmounter backup run ${runId}` });

  // Without the host's flags -U cannot remove the snapshot: it says so and touches nothing.
  const exported = contents(dir);
  const noHost = await cli(['-U', dir]);
  expect(noHost.exitCode).toBe(8);
  const refusal = message(noHost.stderr);
  expect(refusal).toContain(`${SNAP} snapshot of vm1`);
  expect(refusal).toContain("give -U the host's flags");
  expect(refusal).toContain('vcbmounter cleanup');
  expect(contents(dir)).toEqual(exported);
  expect(bench.sim.esx.vm('vm1').snapshots.filter((s) => s.name === SNAP)).toHaveLength(1);

  bench.sim.faults.clear();
  const removesBefore = bench.sim.commandLog.filter((c) => c.argv.join(' ').startsWith(REMOVE)).length;
  const withHost = await cli(['-U', dir, ...bench.connect]);
  expect(withHost.exitCode, withHost.stderr).toBe(0);
  expect(withHost.stdout).toContain(`${SNAP} snapshot of vm1`);
  expect(withHost.stdout).toContain(dir);
  const removes = bench.sim.commandLog.filter((c) => c.argv.join(' ').startsWith(REMOVE)).slice(removesBefore);
  expect(removes.map((c) => c.exitCode)).toEqual([0]);
  expectNothingLeft(bench, 'vm1', before);
  // The release is recorded in the run's journal: nothing is left for cleanup.
  expect((await cli(['cleanup', '--list', '--state-dir', bench.stateDir])).stdout).toContain('no interrupted runs');

  const again = await cli(['-U', dir, ...bench.connect]);
  expect(again.exitCode).toBe(0);
  expect(again.stdout).toContain(`nothing to remove at ${dir}`);
});

test('a normal backup holds only its directory: -U removes it without any host flags', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const dir = outDir(bench, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(0);
  const { runId } = expectCompleteExport(dir);
  const held = readJson(join(dir, STATE)).held as Held[];
  expect(held).toEqual([{ kind: 'export-dir', description: `export directory ${dir}`, resource: { dir, runId } }]);

  const commandsBefore = bench.sim.commandLog.length;
  const u = await cli(['-U', dir]);
  expect(u.exitCode).toBe(0);
  expect(u.stdout).toBe(`removed ${dir}`);
  expect(existsSync(dir)).toBe(false);
  expect(bench.sim.commandLog.length).toBe(commandsBefore);
});

test('a snapshot removal that fails once and succeeds during the final cleanup: the state file is rewritten to hold only the directory, and -U needs no host flags', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: REMOVE, action: 'fail', times: 1, exitCode: 1, stderr: 'vim.fault.TaskInProgress: injected busy host' }]);
  const dir = outDir(bench, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode, r.stderr).toBe(0);
  expect(bench.sim.commandLog.filter((c) => c.argv.join(' ').startsWith(REMOVE)).map((c) => c.exitCode)).toEqual([1, 0]);
  const { runId } = expectCompleteExport(dir);
  expect(readJson(join(dir, STATE)).held).toEqual([{ kind: 'export-dir', description: `export directory ${dir}`, resource: { dir, runId } }]);

  const u = await cli(['-U', dir]);
  expect(u.exitCode, u.stderr).toBe(0);
  expect(existsSync(dir)).toBe(false);
});

test('-U refuses (exit 2, nothing touched) a directory vcbmounter did not make, an export whose state file is {}, and one whose catalog names another run', async () => {
  bench = await startBench([vmSpec('vm1')]);

  const foreign = join(bench.tmp, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'catalog'), 'my shopping list\n');
  writeFileSync(join(foreign, 'data.bin'), 'precious');

  // Two real exports, then each spoilt: the state file emptied, the catalog's run id edited.
  const emptyState = join(bench.tmp, 'empty-state');
  const edited = join(bench.tmp, 'edited');
  for (const d of [emptyState, edited]) {
    const r = await cli([...bench.connect, '-a', 'name:vm1', '-r', d]);
    expect(r.exitCode, r.stderr).toBe(0);
  }
  expectCompleteExport(emptyState);
  writeFileSync(join(emptyState, STATE), '{}');
  const { runId } = expectCompleteExport(edited);
  const catalog = readJson(join(edited, 'catalog'));
  writeFileSync(join(edited, 'catalog'), JSON.stringify({ ...catalog, runId: `${runId}-edited` }, null, 2) + '\n');

  for (const d of [foreign, emptyState, edited]) {
    const was = contents(d);
    const u = await cli(['-U', d]);
    expect(u.exitCode, d).toBe(2);
    expect(message(u.stderr)).toContain(`-U ${d}: this directory was not made by vcbmounter`);
    expect(message(u.stderr)).toContain('refusing to remove it');
    expect(contents(d)).toEqual(was);
  }
});

test('-U on an export the user added a file to removes the backup\'s own files, keeps the added file and the directory, and says so', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const dir = outDir(bench, 'vm1');
  const r = await cli(backupArgs(bench, 'vm1'));
  expect(r.exitCode).toBe(0);
  const { files } = expectCompleteExport(dir);
  writeFileSync(join(dir, 'notes.txt'), 'restore-tested on Monday\n');
  expect(readdirSync(dir).sort()).toEqual([...files, 'notes.txt'].sort());

  const u = await cli(['-U', dir]);
  expect(u.exitCode).not.toBe(0);
  expect(u.exitCode).toBe(7);
  const msg = message(u.stderr);
  expect(msg).toContain('"notes.txt"');
  expect(msg).toContain(`kept the directory`);
  expect(readdirSync(dir)).toEqual(['notes.txt']);
  expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('restore-tested on Monday\n');
});

test('-U finds a backup where it was moved to, and removes it there', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const dir = outDir(bench, 'vm1');
  expect((await cli(backupArgs(bench, 'vm1'))).exitCode).toBe(0);
  const moved = join(bench.tmp, 'archive');
  renameSync(dir, moved);
  const r = await cli(['-U', moved, '--state-dir', bench.stateDir]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stdout).toContain(`removed ${moved}`);
  expect(existsSync(moved)).toBe(false);
});

test('-U leaves alone the unfinished export of a backup that is still running; that backup completes', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: '^dd ', action: 'slow', bytesPerSecond: 2 * 1024 * 1024 }]);
  const dir = outDir(bench, 'vm1');
  const child = cli(backupArgs(bench, 'vm1'));
  await waitUntil(() => bench!.sim.faults.fired.some((f) => f.argv[0] === 'dd'), 'the export to start', 40_000);
  const partial = readdirSync(bench.tmp).find((n) => n.startsWith('out-vm1.partial-'));
  expect(partial).toBeDefined();
  const u = await cli(['-U', dir, '--state-dir', bench.stateDir]);
  expect(u.exitCode, u.stderr).toBe(0);
  expect(u.stdout).toContain(`nothing to remove at ${dir}`);
  expect(existsSync(join(bench.tmp, partial!))).toBe(true);
  const r = await child;
  expect(r.exitCode, message(r.stderr)).toBe(0);
  expectCompleteExport(dir);
});

test('-U refuses while a replacement of the backup by a newer one was interrupted (a DIR.old-* sibling), and removes nothing', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const dir = outDir(bench, 'vm1');
  expect((await cli(backupArgs(bench, 'vm1'))).exitCode).toBe(0);
  const aside = `${dir}.old-20261130T000000Z-1-abcdef`;
  mkdirSync(aside);
  const exported = contents(dir);
  const r = await cli(['-U', dir, '--state-dir', bench.stateDir]);
  expect(r.exitCode).toBe(8);
  expect(message(r.stderr)).toContain('replacement of this backup by a newer one was interrupted');
  expect(message(r.stderr)).toContain('vcbmounter cleanup');
  expect(contents(dir)).toEqual(exported);
  expect(existsSync(aside)).toBe(true);
});

test('a relative --state-dir is recorded as an absolute path, so cleanup from another directory finds the lock it names', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const run = binCommand([...backupArgs(bench, 'vm1').filter((a, i, all) => a !== '--state-dir' && all[i - 1] !== '--state-dir'), '--state-dir', 'rel-state']);
  const r = await execa(run.command, run.args, { cwd: bench.tmp, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  const journals = readdirSync(join(bench.tmp, 'rel-state', 'journal'));
  const lines = readFileSync(join(bench.tmp, 'rel-state', 'journal', journals[0]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind?: string; resource?: { stateDir?: string } });
  expect(lines.find((l) => l.kind === 'vm-lock')!.resource!.stateDir).toBe(join(bench.tmp, 'rel-state'));
});

test('after cleanup removed the snapshot a backup could not, -U needs no host flags (the run\'s journal says it is released)', async () => {
  bench = await startBench([vmSpec('vm1')], [{ match: REMOVE, action: 'fail', exitCode: 1, stderr: 'vim.fault.GenericVmConfigFault: injected remove failure' }]);
  const before = footprint(bench.sim, 'vm1');
  const dir = outDir(bench, 'vm1');
  expect((await cli(backupArgs(bench, 'vm1'))).exitCode).toBe(8);
  bench.sim.faults.clear();
  expect((await cli(['cleanup', ...bench.connect])).exitCode).toBe(0);
  const u = await cli(['-U', dir, '--state-dir', bench.stateDir]);
  expect(u.exitCode, u.stderr).toBe(0);
  expect(u.stdout).toContain(`removed ${dir}`);
  expectNothingLeft(bench, 'vm1', before);
});
