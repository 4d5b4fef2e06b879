// Journal: records hit the disk before the action, torn lines are tolerated, open runs are found and closed.

import { appendFileSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, listOpenRuns, markRecovered, readRecords, stateDirPath, UndoStack } from '../../src/engine/index.js';

function tempStateDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'vcb-journal-')), 'state');
}

describe('Journal', () => {
  it('creates <stateDir>/journal/<run>.jsonl in 0700 directories and writes a begin record', () => {
    const stateDir = tempStateDir();
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'run-1' });
    expect(journal.file).toBe(join(stateDir, 'journal', 'run-1.jsonl'));
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, 'journal')).mode & 0o777).toBe(0o700);
    const [begin] = readRecords(journal.file);
    expect(begin).toMatchObject({ run: 'run-1', event: 'begin', host: 'esx1', vm: 'web01', pid: process.pid, hostname: hostname() });
    expect(() => Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'run-1' })).toThrow(/EEXIST/);
    expect(() => Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: '../evil' })).toThrow(/unsafe run id/);
    journal.close();
  });

  it('has the acquire on disk before the acquire action and the release start before the release', async () => {
    const stateDir = tempStateDir();
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01' });
    const undo = new UndoStack(journal);
    const seenDuringRelease: string[] = [];
    const handle = undo.push({
      kind: 'snapshot',
      description: 'snapshot vcb-1 of web01',
      resource: { vmid: 12, snapshot: 'vcb-1' },
      release: async () => {
        for (const r of readRecords(journal.file)) seenDuringRelease.push(`${r.event}:${r.phase ?? ''}`);
      },
    });
    const afterPush = readRecords(journal.file);
    expect(afterPush.at(-1)).toMatchObject({
      event: 'acquire',
      id: handle.entry.id,
      kind: 'snapshot',
      resource: { vmid: 12, snapshot: 'vcb-1' },
    });
    await handle.releaseNow();
    expect(seenDuringRelease).toEqual(['begin:', 'acquire:', 'release:start']);
    expect(readRecords(journal.file).at(-1)).toMatchObject({ event: 'release', id: handle.entry.id, phase: 'done' });
    journal.close();
  });

  it('lists runs with outstanding resources in acquire order, with failed and interrupted releases marked', async () => {
    const stateDir = tempStateDir();
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'r1' });
    const undo = new UndoStack(journal);
    undo.push({ kind: 'lock', description: 'lock', resource: { path: '/x' }, release: async () => {} });
    const kept = undo.push({ kind: 'export-dir', description: 'export dir', resource: { path: '/backup/web01' }, release: async () => {} });
    undo.push({
      kind: 'snapshot',
      description: 'snapshot',
      resource: { snapshot: 'vcb-1' },
      release: async () => {
        throw new Error('host unreachable');
      },
    });
    undo.push({ kind: 'quiesce', description: 'quiesce', resource: { vmid: 12 }, release: async () => {} });
    journal.releaseStarted(undo.pending[3]!.id);
    kept.forget();
    const other = Journal.open({ stateDir, host: 'esx1', vm: 'db01', runId: 'r2' });
    other.acquire('lock', { path: '/y' });

    const unwound = await undo.unwind({ timeoutMs: 1_000 });
    expect(unwound.failed.map((f) => f.entry.kind)).toEqual(['snapshot']);
    const open = listOpenRuns(stateDir, { vm: 'web01' });
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ runId: 'r1', host: 'esx1', vm: 'web01', pid: process.pid, pidAlive: true, ended: undefined });
    expect(open[0]!.outstanding).toEqual([
      expect.objectContaining({ kind: 'snapshot', resource: { snapshot: 'vcb-1' }, lastError: 'host unreachable', releaseInterrupted: false }),
    ]);
    expect(listOpenRuns(stateDir).map((r) => r.runId)).toEqual(['r1', 'r2']);

    journal.end('failed');
    expect(listOpenRuns(stateDir, { vm: 'web01' })[0]!.ended?.status).toBe('failed');
    markRecovered(stateDir, 'r1');
    expect(listOpenRuns(stateDir).map((r) => r.runId)).toEqual(['r2']);
    expect(readdirSync(join(stateDir, 'journal')).sort()).toEqual(['r1.jsonl.done', 'r2.jsonl']);
    expect(readRecords(join(stateDir, 'journal', 'r1.jsonl.done')).at(-1)!.event).toBe('recovered');
    other.close();
  });

  it('a release started but never finished stays outstanding, flagged as interrupted', () => {
    const stateDir = tempStateDir();
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'r1' });
    const id = journal.acquire('mount', { mountpoint: '/mnt/web01' });
    journal.releaseStarted(id);
    journal.close();
    const [run] = listOpenRuns(stateDir);
    expect(run!.outstanding).toEqual([expect.objectContaining({ id, kind: 'mount', releaseInterrupted: true })]);
  });

  it('a clean end renames the journal to .done; it is no longer listed', async () => {
    const stateDir = tempStateDir();
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'clean' });
    const undo = new UndoStack(journal);
    undo.push({ kind: 'lock', description: 'lock', resource: {}, release: async () => {} });
    await undo.unwind({ timeoutMs: 1_000 });
    journal.end('ok');
    expect(readdirSync(join(stateDir, 'journal'))).toEqual(['clean.jsonl.done']);
    expect(listOpenRuns(stateDir)).toEqual([]);
    expect(readRecords(join(stateDir, 'journal', 'clean.jsonl.done')).map((r) => r.event)).toEqual([
      'begin',
      'acquire',
      'release',
      'release',
      'end',
    ]);
  });

  it('ignores a torn last line (a write cut short by kill -9)', () => {
    const stateDir = tempStateDir();
    const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'torn' });
    journal.acquire('snapshot', { snapshot: 'vcb-1' });
    journal.close();
    appendFileSync(journal.file, '{"t":"2025-01-01T00:00:00Z","run":"torn","event":"rel');
    const [run] = listOpenRuns(stateDir);
    expect(run!.outstanding.map((o) => o.resource)).toEqual([{ snapshot: 'vcb-1' }]);
  });

  it('reopen lets cleanup record releases into the abandoned run, then markRecovered closes it', () => {
    const stateDir = tempStateDir();
    const first = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'r1' });
    const snapshotId = first.acquire('snapshot', { snapshot: 'vcb-1' });
    first.close();
    const recovery = Journal.reopen(stateDir, 'r1');
    recovery.releaseStarted(snapshotId);
    recovery.releaseDone(snapshotId);
    expect(recovery.acquire('note', {})).toBe('r1#2');
    recovery.release('r1#2');
    recovery.close();
    expect(listOpenRuns(stateDir)).toEqual([]);
    expect(readFileSync(first.file, 'utf8').trim().split('\n')).toHaveLength(6);
  });

  it('returns no runs when the state directory does not exist yet', () => {
    expect(listOpenRuns(join(tempStateDir(), 'missing'))).toEqual([]);
  });
});

describe('stateDirPath', () => {
  it('prefers the override, then an absolute XDG_STATE_HOME, then ~/.local/state', () => {
    expect(stateDirPath('/srv/vcb', { XDG_STATE_HOME: '/x' })).toBe('/srv/vcb');
    expect(stateDirPath(undefined, { XDG_STATE_HOME: '/x/state' })).toBe('/x/state/vcbmounter');
    expect(stateDirPath(undefined, { XDG_STATE_HOME: 'relative' })).toMatch(/\/\.local\/state\/vcbmounter$/);
    expect(stateDirPath(undefined, {})).toMatch(/\/\.local\/state\/vcbmounter$/);
  });
});
