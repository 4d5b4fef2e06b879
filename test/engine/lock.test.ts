// VM lock: exclusive per host and VM, released only by its owner, stale locks taken over with a warning.

import { mkdtempSync, readdirSync, readFileSync, writeFileSync, utimesSync, mkdirSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  acquireVmLock,
  breakVmLock,
  Journal,
  listOpenRuns,
  lockPath,
  lockVm,
  readVmLock,
  releaseVmLock,
  safeKey,
  UndoStack,
  type LockInfo,
} from '../../src/engine/index.js';
import { VcbError } from '../../src/errors.js';

const noTakeover = (message: string): void => {
  throw new Error(`unexpected lock takeover: ${message}`);
};

function tempStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'vcb-lock-'));
}

function writeLock(stateDir: string, host: string, vm: string, info: Partial<LockInfo>): string {
  const path = lockPath(stateDir, host, vm);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ pid: 1, hostname: hostname(), startedAt: new Date().toISOString(), runId: 'other', host, vm, argv: [], ...info }));
  return path;
}

function lockedError(fn: () => unknown): VcbError {
  try {
    fn();
  } catch (error) {
    if (error instanceof VcbError) return error;
    throw error;
  }
  throw new Error('expected a LOCKED error');
}

describe('VM lock', () => {
  it('writes who holds it, refuses a second run for the same VM and allows other VMs', () => {
    const stateDir = tempStateDir();
    const lock = acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'run-a', argv: ['-a', 'name:web01', '-t', 'fullvm'], onWarning: noTakeover });
    const info = JSON.parse(readFileSync(lock.path, 'utf8')) as LockInfo;
    expect(info).toMatchObject({ pid: process.pid, hostname: hostname(), runId: 'run-a', host: 'esx1', vm: 'web01', argv: ['-a', 'name:web01', '-t', 'fullvm'] });
    expect(readVmLock(stateDir, 'esx1', 'web01')).toEqual(info);

    const error = lockedError(() => acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'run-b', onWarning: noTakeover }));
    expect(error.code).toBe('LOCKED');
    expect(error.message).toContain(`pid ${process.pid} since ${info.startedAt}`);
    expect(error.message).toContain('vcbmounter cleanup');
    expect(error.message).toContain(lock.path);

    const other = acquireVmLock({ stateDir, host: 'esx1', vm: 'db01', runId: 'run-b', onWarning: noTakeover });
    const sameNameOtherHost = acquireVmLock({ stateDir, host: 'esx2', vm: 'web01', runId: 'run-c', onWarning: noTakeover });
    lock.release();
    lock.release();
    const again = acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'run-d', onWarning: noTakeover });
    for (const l of [other, sameNameOtherHost, again]) l.release();
    expect(readdirSync(join(stateDir, 'locks'))).toEqual([]);
  });

  it('release leaves a lock that now belongs to another run', () => {
    const stateDir = tempStateDir();
    const path = writeLock(stateDir, 'esx1', 'web01', { pid: process.pid, runId: 'theirs' });
    expect(releaseVmLock(stateDir, 'esx1', 'web01', 'mine')).toBe(false);
    expect(readVmLock(stateDir, 'esx1', 'web01')?.runId).toBe('theirs');
    expect(basename(path)).toMatch(/\.lock$/);
  });

  it('refuses a lock from another machine unless older than foreignStaleAfterMs, then takes it over with a warning', () => {
    const stateDir = tempStateDir();
    const startedAt = new Date(Date.now() - 3 * 3600_000).toISOString();
    writeLock(stateDir, 'esx1', 'web01', { hostname: 'proxy-2', pid: 4242, startedAt });
    const refused = lockedError(() => acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'mine', onWarning: noTakeover }));
    expect(refused.message).toContain(`pid 4242 on proxy-2 since ${startedAt}`);
    const stillRefused = lockedError(() =>
      acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'mine', foreignStaleAfterMs: 24 * 3600_000, onWarning: noTakeover }),
    );
    expect(stillRefused.code).toBe('LOCKED');

    const warnings: Array<[string, LockInfo | undefined]> = [];
    const lock = acquireVmLock({
      stateDir,
      host: 'esx1',
      vm: 'web01',
      runId: 'mine',
      foreignStaleAfterMs: 3600_000,
      onWarning: (message, previous) => warnings.push([message, previous]),
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![0]).toContain('held by proxy-2');
    expect(warnings[0]![1]?.pid).toBe(4242);
    expect(readVmLock(stateDir, 'esx1', 'web01')?.runId).toBe('mine');
    lock.release();
  });

  it('takes over an unreadable lock only once it is old', () => {
    const stateDir = tempStateDir();
    const path = lockPath(stateDir, 'esx1', 'web01');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, '');
    expect(lockedError(() => acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'mine', onWarning: noTakeover })).message).toContain('being written or damaged');
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    const warnings: string[] = [];
    const lock = acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'mine', onWarning: (m) => warnings.push(m) });
    expect(warnings[0]).toContain('unreadable lock file');
    expect(readdirSync(dirname(path))).toEqual([basename(path)]);
    lock.release();
  });

  it('breakVmLock removes any holder', () => {
    const stateDir = tempStateDir();
    writeLock(stateDir, 'esx1', 'web01', { pid: process.pid });
    expect(breakVmLock(stateDir, 'esx1', 'web01')).toBe(true);
    expect(breakVmLock(stateDir, 'esx1', 'web01')).toBe(false);
    expect(readVmLock(stateDir, 'esx1', 'web01')).toBeUndefined();
  });
});

describe('safeKey', () => {
  it('maps any VM name to a distinct, safe file name', () => {
    const names = ['web01', 'web 01', 'web_01', '../../etc/passwd', '..', '.', 'Ünïcødé VM', 'a/b', 'a_b', 'x'.repeat(300), '', '[ds1] a/b.vmx'];
    const keys = names.map(safeKey);
    expect(new Set(keys).size).toBe(names.length);
    for (const key of keys) {
      expect(key).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/);
      expect(key.length).toBeLessThanOrEqual(53);
    }
    expect(safeKey('web01')).toMatch(/^web01-[0-9a-f]{12}$/);
    expect(safeKey('web01')).toBe(safeKey('web01'));
  });
});

describe('lockVm', () => {
  it('journals the lock before taking it, and leaves nothing outstanding when the lock is refused', async () => {
    const stateDir = tempStateDir();
    const holder = await lockVm(new UndoStack(), { stateDir, host: 'esx1', vm: 'web01', runId: 'holder', onWarning: noTakeover });
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'loser' });
    const undo = new UndoStack(journal);
    await expect(lockVm(undo, { stateDir, host: 'esx1', vm: 'web01', runId: 'loser', onWarning: noTakeover })).rejects.toMatchObject({ code: 'LOCKED' });
    expect(undo.pending).toEqual([]);
    expect(listOpenRuns(stateDir)).toEqual([]);
    expect(readVmLock(stateDir, 'esx1', 'web01')?.runId).toBe('holder');
    holder.lock.release();

    const { handle } = await lockVm(undo, { stateDir, host: 'esx1', vm: 'web01', runId: 'loser', onWarning: noTakeover });
    expect(listOpenRuns(stateDir)[0]!.outstanding.map((o) => o.id)).toEqual([handle.entry.id]);
    await undo.unwind({ timeoutMs: 1_000 });
    expect(readVmLock(stateDir, 'esx1', 'web01')).toBeUndefined();
    journal.close();
  });
});
