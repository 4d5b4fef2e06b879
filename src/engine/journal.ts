// Writing a run's journal: every acquire and release recorded before it happens, so a later run can clean up after kill -9.

import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errorMessage } from './cleanup-errors.js';
import { ensurePrivateDir, journalDir } from './state-dir.js';
import type { UndoRecorder } from './undo.js';
import { assertSafeRunId, DONE_SUFFIX, OPEN_SUFFIX, readRecords, readRun, type JournalEvent, type JournalRecord, type RunStatus } from './journal-records.js';

export { isRunClosed, listOpenRuns, markRecovered, readRecords, type JournalEvent, type JournalRecord, type OpenRun, type OutstandingResource, type ReleasePhase, type RunStatus } from './journal-records.js';


/** A sortable, file-name-safe run id: UTC time, pid and randomness. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * A journal for one VM in one run: `<stateDir>/journal/<runId>.jsonl`. Every record is written
 * before the action it describes, synchronously, so a kill -9 can at worst tear the last line
 * (readers ignore a torn line). `begin` and `acquire` records are also fsynced, so even a crash of
 * the machine cannot lose what may be held. Release, keep and end records are not: after a crash
 * of the machine one may be missing, and the resource is then released again (releases are
 * idempotent). Skipping that fsync matters: during an export the page cache holds the extents'
 * dirty pages, and an fsync here could block the process for a quarter of a second while they
 * are written. Resources must hold only ids and paths, never secrets:
 * the file is read by later runs and by people. Implements UndoRecorder, so an UndoStack built
 * on it journals every push, release and forget by itself.
 */
export class Journal implements UndoRecorder {
  private fd: number | undefined;
  private counter = 0;

  private constructor(
    readonly stateDir: string,
    readonly runId: string,
    readonly host: string,
    readonly vm: string,
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates the journal file (failing if the run id exists) and writes the 'begin' record. */
  static open(opts: { stateDir: string; host: string; vm: string; runId?: string; dir?: string; source?: string }): Journal {
    const dir = ensurePrivateDir(journalDir(opts.stateDir));
    const runId = opts.runId ?? newRunId();
    assertSafeRunId(runId);
    const file = join(dir, runId + OPEN_SUFFIX);
    const fd = openSync(file, 'wx', 0o600);
    syncDir(dir);
    const journal = new Journal(opts.stateDir, runId, opts.host, opts.vm, file, fd);
    journal.append({ event: 'begin', hostname: osHostname(), ...(opts.dir ? { dir: opts.dir } : {}), ...(opts.source ? { source: opts.source } : {}) }, true);
    return journal;
  }

  /**
   * Reopens an unfinished run's journal for appending (the `cleanup` command records its
   * releases there). Ids of acquires it records continue after the existing ones.
   */
  static reopen(stateDir: string, runId: string): Journal {
    assertSafeRunId(runId);
    const file = join(journalDir(stateDir), runId + OPEN_SUFFIX);
    const records = readRecords(file);
    const begin = records.find((r) => r.event === 'begin');
    if (!begin) throw new Error(`journal ${file} has no begin record`);
    const fd = openSync(file, 'a', 0o600);
    const journal = new Journal(stateDir, runId, begin.host, begin.vm, file, fd);
    journal.counter = records.filter((r) => r.event === 'acquire').length;
    return journal;
  }

  acquire(kind: string, resource: Record<string, unknown>, description = kind): string {
    const id = `${this.runId}#${++this.counter}`;
    this.append({ event: 'acquire', id, kind, description, resource }, true);
    return id;
  }

  /** Records facts about a held resource learnt after its acquire; readers merge them into its resource. */
  update(id: string, fields: Record<string, unknown>): void {
    this.append({ event: 'update', id, resource: fields }, true);
  }

  /** Records that the resource `id` is released (shorthand for a release that completes at once). */
  release(id: string): void {
    this.releaseDone(id);
  }

  releaseStarted(id: string): void {
    this.append({ event: 'release', id, phase: 'start' });
  }

  releaseDone(id: string): void {
    this.append({ event: 'release', id, phase: 'done' });
  }

  releaseFailed(id: string, error: unknown): void {
    this.append({ event: 'release', id, phase: 'failed', error: errorMessage(error).slice(0, 500) });
  }

  kept(id: string): void {
    this.append({ event: 'keep', id });
  }

  /**
   * Records that process `pid` holds the run's outstanding resources from now on (the -t file disk server,
   * serving the mounts at `dir`): cleanup and later runs leave them alone while it lives, and release them once it is gone.
   */
  handOver(pid: number, startedBefore: number, dir: string): void {
    this.append({ event: 'handover', holder: { pid, startedBefore }, description: dir }, true);
  }

  /**
   * Writes the 'end' record and closes the file. If nothing is outstanding the file is renamed to
   * `.jsonl.done` (listOpenRuns no longer reads it); otherwise it stays for `cleanup`.
   */
  end(status: RunStatus): void {
    if (this.fd === undefined) return;
    this.append({ event: 'end', status });
    this.close();
    const open = readRun(this.file, this.runId);
    if (open && open.outstanding.length === 0) renameSync(this.file, this.file.replace(/\.jsonl$/, DONE_SUFFIX));
  }

  /** Closes without an end record (e.g. on forced exit), leaving the run open for `cleanup`. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Writes one record; `durable` also fsyncs it (for records that must survive a crash of the machine). */
  private append(fields: Partial<JournalRecord> & { event: JournalEvent }, durable = false): void {
    if (this.fd === undefined) throw new Error(`journal ${this.file} is closed`);
    const record: JournalRecord = {
      t: new Date().toISOString(),
      run: this.runId,
      host: this.host,
      vm: this.vm,
      pid: process.pid,
      ...fields,
    };
    writeSync(this.fd, JSON.stringify(record) + '\n');
    if (durable) fsyncSync(this.fd);
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
