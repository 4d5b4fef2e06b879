// Reading journals: their record format, which runs are still open and what they hold, and marking a run recovered.

import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from './process-alive.js';
import { journalDir } from './state-dir.js';

export type JournalEvent = 'begin' | 'acquire' | 'update' | 'release' | 'keep' | 'handover' | 'end' | 'recovered';
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
  /** On 'begin': the run's -r directory (absolute), so `post DIR` finds a run that was killed before it made anything there. */
  dir?: string;
  /** On 'begin' of a mount-backup run: the backup directory it mounts (absolute), which must not be deleted while mounted. */
  source?: string;
  /** acquire/release/keep: which acquire this is about. */
  id?: string;
  kind?: string;
  description?: string;
  resource?: Record<string, unknown>;
  phase?: ReleasePhase;
  error?: string;
  /** On 'end'. */
  status?: RunStatus;
  /** On 'handover': the process that holds the run's resources from now on, and an epoch ms it started before. */
  holder?: { pid: number; startedBefore: number };
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
  /** The run's -r directory, absolute (journals written before it was recorded have none). */
  dir?: string;
  /** A mount-backup run's backup directory (see JournalRecord.source). */
  source?: string;
  /** The run's end record, if it got that far (it ended but could not release everything). */
  ended?: { status: RunStatus; at: string };
  /** Whether the run's process still lives; null when it ran on another machine (unknown). */
  pidAlive: boolean | null;
  /** Set when the run handed what it holds to a longer-lived process (a -t file disk server): pid and pidAlive are that process's. */
  handedOver?: { at: string; dir?: string };
  /** Acquired and neither released nor kept, in acquire order. */
  outstanding: OutstandingResource[];
}

export const OPEN_SUFFIX = '.jsonl';
export const DONE_SUFFIX = '.jsonl.done';

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

/** Whether a run's journal is closed here: everything it acquired was released or kept (by it, cleanup or a later run). */
export function isRunClosed(stateDir: string, runId: string): boolean {
  assertSafeRunId(runId);
  return existsSync(join(journalDir(stateDir), runId + DONE_SUFFIX)) && !existsSync(join(journalDir(stateDir), runId + OPEN_SUFFIX));
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

export function readRun(file: string, runId: string): OpenRun | undefined {
  const records = readRecords(file);
  const begin = records.find((r) => r.event === 'begin');
  if (!begin) return undefined;
  const outstanding = new Map<string, OutstandingResource>();
  let ended: OpenRun['ended'];
  let holder: { pid: number; startedBefore: number; at: string; dir?: string } | undefined;
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
    } else if (r.event === 'handover' && r.holder) {
      holder = { ...r.holder, at: r.t, ...(typeof r.description === 'string' ? { dir: r.description } : {}) };
    } else if (r.event === 'end' && r.status) {
      ended = { status: r.status, at: r.t };
    } else if (r.event === 'recovered') {
      outstanding.clear();
    }
  }
  const hostname = begin.hostname ?? '';
  const pid = holder?.pid ?? begin.pid;
  const startedBefore = holder?.startedBefore ?? Date.parse(begin.t);
  return {
    runId,
    file,
    host: begin.host,
    vm: begin.vm,
    pid,
    hostname,
    startedAt: begin.t,
    ...(typeof begin.dir === 'string' ? { dir: begin.dir } : {}),
    ...(typeof begin.source === 'string' ? { source: begin.source } : {}),
    ended,
    pidAlive: hostname === osHostname() ? isProcessAlive(pid, startedBefore) : null,
    ...(holder ? { handedOver: { at: holder.at, ...(holder.dir ? { dir: holder.dir } : {}) } } : {}),
    outstanding: [...outstanding.values()],
  };
}

export function assertSafeRunId(runId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId)) throw new Error(`unsafe run id: ${JSON.stringify(runId)}`);
}
