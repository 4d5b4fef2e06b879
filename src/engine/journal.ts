// Append-only record of what a run acquires and releases, so a later run can clean up after kill -9.

import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { errorMessage } from './cleanup-errors.js';
import { isProcessAlive } from './process-alive.js';
import { ensurePrivateDir, journalDir } from './state-dir.js';
import type { UndoRecorder } from './undo.js';

export type JournalEvent = 'begin' | 'acquire' | 'update' | 'release' | 'keep' | 'end' | 'recovered';
export type ReleasePhase = 'start' | 'done' | 'failed';
export type RunStatus = 'ok' | 'failed' | 'interrupted';

/** One line of a journal file. */
export interface JournalRecord {
  t: string;
  run: string;
  event: JournalEvent;
  host: string;
  vm: string;
  pid: number;
  /** On 'begin': the proxy's hostname. */
  hostname?: string;
  /** acquire/release/keep: which acquire this is about. */
  id?: string;
  kind?: string;
  description?: string;
  resource?: Record<string, unknown>;
  phase?: ReleasePhase;
  error?: string;
  /** On 'end'. */
  status?: RunStatus;
}

export interface OutstandingResource {
  id: string;
  kind: string;
  description: string;
  resource: Record<string, unknown>;
  acquiredAt: string;
  /** A release was started but neither finished nor failed: the process died during it. */
  releaseInterrupted: boolean;
  /** Message of the last failed release, if any. */
  lastError?: string;
}

export interface OpenRun {
  runId: string;
  file: string;
  host: string;
  vm: string;
  pid: number;
  hostname: string;
  startedAt: string;
  /** The run's end record, if it got that far (it ended but could not release everything). */
  ended?: { status: RunStatus; at: string };
  /** Whether the run's process still lives; null when it ran on another machine (unknown). */
  pidAlive: boolean | null;
  /** Acquired and neither released nor kept, in acquire order. */
  outstanding: OutstandingResource[];
}

const OPEN_SUFFIX = '.jsonl';
const DONE_SUFFIX = '.jsonl.done';

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
  static open(opts: { stateDir: string; host: string; vm: string; runId?: string }): Journal {
    const dir = ensurePrivateDir(journalDir(opts.stateDir));
    const runId = opts.runId ?? newRunId();
    assertSafeRunId(runId);
    const file = join(dir, runId + OPEN_SUFFIX);
    const fd = openSync(file, 'wx', 0o600);
    syncDir(dir);
    const journal = new Journal(opts.stateDir, runId, opts.host, opts.vm, file, fd);
    journal.append({ event: 'begin', hostname: osHostname() }, true);
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

/**
 * Runs with outstanding resources (acquired, neither released nor kept), oldest first, optionally
 * only for one host/VM. A run with no `ended` and pidAlive true (or null: another machine) may
 * still be working: leave its resources alone. One that ended, or whose pid is dead, is abandoned:
 * release its outstanding resources (newest first), recording into Journal.reopen(), then
 * markRecovered().
 */
export function listOpenRuns(stateDir: string, filter: { host?: string; vm?: string } = {}): OpenRun[] {
  let names: string[];
  try {
    names = readdirSync(journalDir(stateDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const runs: OpenRun[] = [];
  for (const name of names.filter((n) => n.endsWith(OPEN_SUFFIX)).sort()) {
    const run = readRun(join(journalDir(stateDir), name), name.slice(0, -OPEN_SUFFIX.length));
    if (!run || run.outstanding.length === 0) continue;
    if (filter.host !== undefined && run.host !== filter.host) continue;
    if (filter.vm !== undefined && run.vm !== filter.vm) continue;
    runs.push(run);
  }
  return runs;
}

/**
 * Marks a run as dealt with after `cleanup` released (or an admin resolved) what it left:
 * appends a 'recovered' record and renames the file to `.jsonl.done`.
 */
export function markRecovered(stateDir: string, runId: string): void {
  assertSafeRunId(runId);
  const file = join(journalDir(stateDir), runId + OPEN_SUFFIX);
  const records = readRecords(file);
  const begin = records.find((r) => r.event === 'begin');
  const record: JournalRecord = {
    t: new Date().toISOString(),
    run: runId,
    event: 'recovered',
    host: begin?.host ?? '',
    vm: begin?.vm ?? '',
    pid: process.pid,
  };
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, JSON.stringify(record) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(file, file.replace(/\.jsonl$/, DONE_SUFFIX));
}

/** Reads a journal; a line that does not parse (a write torn by kill -9) is skipped. */
export function readRecords(file: string): JournalRecord[] {
  const records: JournalRecord[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch {
      continue;
    }
  }
  return records;
}

function readRun(file: string, runId: string): OpenRun | undefined {
  const records = readRecords(file);
  const begin = records.find((r) => r.event === 'begin');
  if (!begin) return undefined;
  const outstanding = new Map<string, OutstandingResource>();
  let ended: OpenRun['ended'];
  for (const r of records) {
    if (r.event === 'acquire' && r.id) {
      outstanding.set(r.id, {
        id: r.id,
        kind: r.kind ?? '',
        description: r.description ?? r.kind ?? '',
        resource: r.resource ?? {},
        acquiredAt: r.t,
        releaseInterrupted: false,
      });
    } else if (r.event === 'update' && r.id) {
      const o = outstanding.get(r.id);
      if (o) o.resource = { ...o.resource, ...(r.resource ?? {}) };
    } else if (r.event === 'release' && r.id) {
      const o = outstanding.get(r.id);
      if (!o) continue;
      if (r.phase === 'done' || r.phase === undefined) outstanding.delete(r.id);
      else if (r.phase === 'start') o.releaseInterrupted = true;
      else if (r.phase === 'failed') {
        o.releaseInterrupted = false;
        o.lastError = r.error;
      }
    } else if (r.event === 'keep' && r.id) {
      outstanding.delete(r.id);
    } else if (r.event === 'end' && r.status) {
      ended = { status: r.status, at: r.t };
    } else if (r.event === 'recovered') {
      outstanding.clear();
    }
  }
  const hostname = begin.hostname ?? '';
  return {
    runId,
    file,
    host: begin.host,
    vm: begin.vm,
    pid: begin.pid,
    hostname,
    startedAt: begin.t,
    ended,
    pidAlive: hostname === osHostname() ? isProcessAlive(begin.pid, Date.parse(begin.t)) : null,
    outstanding: [...outstanding.values()],
  };
}

function assertSafeRunId(runId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) throw new Error(`unsafe run id: ${JSON.stringify(runId)}`);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
