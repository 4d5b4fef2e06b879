// Crash safety of --preexisting-mountpoint delete: a kill -9 anywhere in the publish step's renames never loses
// either backup. Recovery (cleanup, or the next run of the VM) finishes the replacement when the new export is
// complete, or puts the earlier backup back.
//
// Each case builds by hand what the killed run left: the directories at the point of the kill (from two real
// backups) and the run's open journal, as the publish step writes it, with the pid of a process that is gone.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { acquireVmLock, Journal, lockPath } from '../../src/engine/index.js';
import { backupArgs, cli, outDir, startBench, vmSpec, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

const STATE = '.vcbmounter-state.json';

/** Every file of an export directory and a digest of its content. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    expect(e.isFile(), e.name).toBe(true);
    out[e.name] = createHash('sha256').update(readFileSync(join(dir, e.name))).digest('hex');
  }
  return out;
}

function catalogRunId(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'catalog'), 'utf8')) as { runId: string }).runId;
}

/** Siblings of DIR that a replacement leaves while it is under way: `DIR.old-*` and `DIR.partial-*`. */
function leftovers(dir: string): string[] {
  return readdirSync(dirname(dir)).filter((n) => n.startsWith(`${basename(dir)}.old-`) || n.startsWith(`${basename(dir)}.partial-`));
}

/** A pid no process has any more: one of a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(child.status).toBe(0);
  return child.pid!;
}

interface Backups {
  dir: string;
  runA: string;
  runB: string;
  aside: string;
  partial: string;
  /** The files of A and B as their backups wrote them. */
  a: Record<string, string>;
  b: Record<string, string>;
}

/**
 * Backup A at DIR, then a complete backup B of the same VM (to another -r and state dir), moved to where the
 * publish step of run B would have built it: `DIR.partial-<runB>`. Its state file names DIR, as run B's would.
 */
async function twoBackups(b: Bench): Promise<Backups> {
  const dir = outDir(b, 'vm1');
  const first = await cli(backupArgs(b, 'vm1'));
  expect(first.exitCode, first.stderr).toBe(0);
  const elsewhere = join(b.tmp, 'elsewhere');
  const second = await cli([...b.connect, '-a', 'name:vm1', '-r', elsewhere, '--state-dir', join(b.tmp, 'state-b')]);
  expect(second.exitCode, second.stderr).toBe(0);
  const runA = catalogRunId(dir);
  const runB = catalogRunId(elsewhere);
  expect(runB).not.toBe(runA);
  const statePath = join(elsewhere, STATE);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { held: Array<{ kind: string; description: string; resource: Record<string, unknown> }> };
  state.held = state.held.map((h) => (h.kind === 'export-dir' ? { ...h, description: `export directory ${dir}`, resource: { ...h.resource, dir } } : h));
  writeFileSync(statePath, JSON.stringify(state, null, 2) + '\n');
  const partial = `${dir}.partial-${runB}`;
  renameSync(elsewhere, partial);
  return { dir, runA, runB, aside: `${dir}.old-${runB}`, partial, a: digests(dir), b: digests(partial) };
}

/**
 * The journal (and VM lock) run B left when killed in its publish step, as that run writes them: the lock, the
 * snapshot (already removed), the partial directory (export step) and the replaced directory (publish step,
 * before its first rename). After both renames the run has kept the partial directory and started releasing
 * the replaced one.
 */
function killedRunJournal(b: Bench, x: Backups, killed: 'between-renames' | 'deleting-aside'): void {
  const host = `127.0.0.1:${b.sim.port}`;
  const vm = 'vm1';
  const pid = deadPid();
  const lock = acquireVmLock({ stateDir: b.stateDir, host, vm, runId: x.runB, argv: ['-h', '127.0.0.1', '-a', 'name:vm1', '-r', x.dir, '-t', 'fullvm'], onWarning: () => {} });
  const lockInfo = JSON.parse(readFileSync(lock.path, 'utf8')) as { pid: number };
  writeFileSync(lock.path, JSON.stringify({ ...lockInfo, pid }));

  const journal = Journal.open({ stateDir: b.stateDir, host, vm, runId: x.runB });
  journal.acquire('vm-lock', { stateDir: b.stateDir, host, vm, runId: x.runB }, `lock on ${vm}`);
  // The snapshot was removed once the disks were read, before the publish step.
  const snapshotId = journal.acquire('snapshot', { host, vmId: String(b.sim.esx.vm(vm).vmid), vm, description: `vcbmounter backup run ${x.runB}`, settleBy: 0, timeoutMs: 900_000 }, `_VCB-BACKUP_ snapshot of ${vm}`);
  journal.update(snapshotId, { outcome: 'created' });
  journal.releaseStarted(snapshotId);
  journal.releaseDone(snapshotId);
  const partialId = journal.acquire('partial-dir', { partialDir: x.partial }, `unfinished export ${x.partial}`);
  const replacedId = journal.acquire('replaced-dir', { destination: x.dir, aside: x.aside, partial: x.partial, runId: x.runB }, `earlier backup ${x.dir}, moved aside to ${x.aside} while replaced`);
  if (killed === 'deleting-aside') {
    journal.kept(partialId);
    journal.releaseStarted(replacedId);
  }
  journal.close();
  // The records carry this process's pid: make them the killed run's.
  const text = readFileSync(journal.file, 'utf8');
  expect(text).toContain(`"pid":${process.pid},`);
  writeFileSync(journal.file, text.replaceAll(`"pid":${process.pid},`, `"pid":${pid},`));
}

async function expectInterruptedRunListed(b: Bench, runB: string): Promise<void> {
  const list = await cli(['cleanup', '--list', '--state-dir', b.stateDir]);
  expect(list.exitCode).toBe(0);
  expect(list.stdout).toContain(runB);
  expect(list.stdout).toContain('(dead)');
  expect(list.stdout).toContain('moved aside');
}

async function expectNoInterruptedRuns(b: Bench): Promise<void> {
  const list = await cli(['cleanup', '--list', '--state-dir', b.stateDir]);
  expect(list.exitCode).toBe(0);
  expect(list.stdout).toContain('no interrupted runs');
  expect(existsSync(lockPath(b.stateDir, `127.0.0.1:${b.sim.port}`, 'vm1'))).toBe(false);
}

test('killed between the two renames (DIR moved aside, the complete new export not yet in place): cleanup puts the new export at DIR and removes the old one', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const x = await twoBackups(bench);
  renameSync(x.dir, x.aside);
  killedRunJournal(bench, x, 'between-renames');
  await expectInterruptedRunListed(bench, x.runB);

  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expect(c.stdout).toContain(`cleaned up run ${x.runB}`);
  expect(catalogRunId(x.dir)).toBe(x.runB);
  expect(digests(x.dir)).toEqual(x.b);
  expect(leftovers(x.dir)).toEqual([]);
  await expectNoInterruptedRuns(bench);
});

test('killed after both renames while deleting the old backup (partly deleted): cleanup keeps the new export at DIR and removes the rest of the old one', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const x = await twoBackups(bench);
  renameSync(x.dir, x.aside);
  renameSync(x.partial, x.dir);
  rmSync(join(x.aside, 'vm1.vmx'));
  killedRunJournal(bench, x, 'deleting-aside');
  await expectInterruptedRunListed(bench, x.runB);

  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expect(catalogRunId(x.dir)).toBe(x.runB);
  expect(digests(x.dir)).toEqual(x.b);
  expect(leftovers(x.dir)).toEqual([]);
  await expectNoInterruptedRuns(bench);
});

test('killed after the first rename with the new export incomplete: cleanup puts the earlier backup back at DIR and removes the unfinished one', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const x = await twoBackups(bench);
  renameSync(x.dir, x.aside);
  rmSync(join(x.partial, 'catalog'));
  killedRunJournal(bench, x, 'between-renames');
  await expectInterruptedRunListed(bench, x.runB);

  const c = await cli(['cleanup', ...bench.connect]);
  expect(c.exitCode, c.stderr).toBe(0);
  expect(catalogRunId(x.dir)).toBe(x.runA);
  expect(digests(x.dir)).toEqual(x.a);
  expect(leftovers(x.dir)).toEqual([]);
  await expectNoInterruptedRuns(bench);
});

test('killed between the two renames, recovered by the next backup of the VM: the new export ends up at DIR and the next backup succeeds', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const x = await twoBackups(bench);
  renameSync(x.dir, x.aside);
  killedRunJournal(bench, x, 'between-renames');

  const next = join(bench.tmp, 'next');
  const r = await cli([...bench.connect, '-a', 'name:vm1', '-r', next]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.stderr).toContain('taking over stale lock');
  expect(r.stderr).toContain(`releasing what an interrupted run (${x.runB}) left behind`);
  expect(catalogRunId(x.dir)).toBe(x.runB);
  expect(digests(x.dir)).toEqual(x.b);
  expect(leftovers(x.dir)).toEqual([]);
  const nextRun = catalogRunId(next);
  expect([x.runA, x.runB]).not.toContain(nextRun);
  await expectNoInterruptedRuns(bench);
});
