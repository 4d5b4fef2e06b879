// One backup per VM at a time on this proxy: an exclusive lock file per host and VM, with stale-lock takeover.

import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VcbError } from '../errors.js';
import { isProcessAlive } from './process-alive.js';
import { ensurePrivateDir, lockDir } from './state-dir.js';
import { safeKey } from './vm-key.js';
import type { UndoHandle, UndoStack } from './undo.js';

/** What a lock file holds. */
export interface LockInfo {
  pid: number;
  hostname: string;
  startedAt: string;
  runId: string;
  host: string;
  vm: string;
  /** A summary of the command line, without secrets (the caller builds it). */
  argv: string[];
}

export interface LockOptions {
  stateDir: string;
  host: string;
  vm: string;
  runId: string;
  /** Command line summary for whoever finds the lock; must not hold passwords. */
  argv?: string[];
  /** A lock written on another machine is taken over only once older than this (default: never). */
  foreignStaleAfterMs?: number;
  /** Told when a stale lock is taken over; log it as a warning (a takeover is never silent). */
  onWarning: (message: string, previous: LockInfo | undefined) => void;
}

export interface VmLock {
  readonly path: string;
  readonly info: LockInfo;
  /** Removes the lock file if it still holds our runId; safe to call more than once. */
  release(): void;
}

const MAX_ATTEMPTS = 5;
/** A lock file that cannot be parsed (its writer died between create and write) counts as stale after this. */
const UNREADABLE_STALE_AFTER_MS = 10_000;

export function lockPath(stateDir: string, host: string, vm: string): string {
  return join(lockDir(stateDir), `${safeKey(host)}__${safeKey(vm)}.lock`);
}

/**
 * Takes the lock for (host, vm) or throws VcbError LOCKED naming the holder and what to do.
 * The file is created with O_EXCL. An existing lock is taken over (with onWarning) when its pid is
 * dead on this machine, when it was written on another machine and is older than
 * foreignStaleAfterMs, or when it cannot be parsed and is older than 10 s; otherwise refused.
 */
export function acquireVmLock(opts: LockOptions): VmLock {
  ensurePrivateDir(lockDir(opts.stateDir));
  const path = lockPath(opts.stateDir, opts.host, opts.vm);
  const info: LockInfo = {
    pid: process.pid,
    hostname: osHostname(),
    startedAt: new Date().toISOString(),
    runId: opts.runId,
    host: opts.host,
    vm: opts.vm,
    argv: opts.argv ?? [],
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (tryCreate(path, info)) {
      return { path, info, release: () => releaseVmLock(opts.stateDir, opts.host, opts.vm, opts.runId) };
    }
    const existing = readLock(path);
    if (existing === 'missing') continue;
    const staleReason = whyStale(existing, path, opts.foreignStaleAfterMs);
    if (!staleReason) throw lockedError(path, existing as LockInfo, opts.vm);
    if (takeOver(path, existing)) {
      opts.onWarning(
        `taking over stale lock ${path} (${staleReason})`,
        existing === 'unreadable' ? undefined : existing,
      );
    }
  }
  throw new VcbError('LOCKED', `could not take the lock ${path}: it kept changing hands`, { vm: opts.vm });
}

/**
 * The engine's rule in one call: registers the lock's release on `undo` (journalled as kind 'lock'
 * with resource {host, runId, vm, path}), then takes the lock. If taking it fails, the registered
 * release runs at once (a no-op: the file is not ours) and the LOCKED error is thrown.
 */
export async function lockVm(undo: UndoStack, opts: LockOptions): Promise<{ lock: VmLock; handle: UndoHandle }> {
  const path = lockPath(opts.stateDir, opts.host, opts.vm);
  const handle = undo.push({
    kind: 'lock',
    description: `lock ${path}`,
    resource: { host: opts.host, vm: opts.vm, path, runId: opts.runId },
    release: async () => void releaseVmLock(opts.stateDir, opts.host, opts.vm, opts.runId),
  });
  try {
    return { lock: acquireVmLock(opts), handle };
  } catch (error) {
    await handle.releaseNow();
    throw error;
  }
}

/** Removes the lock for (host, vm) if it holds `runId`. Returns whether a file was removed. */
export function releaseVmLock(stateDir: string, host: string, vm: string, runId: string): boolean {
  const path = lockPath(stateDir, host, vm);
  const existing = readLock(path);
  if (existing === 'missing' || existing === 'unreadable' || existing.runId !== runId) return false;
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The current holder of the lock for (host, vm), if any (undefined also for an unreadable file). */
export function readVmLock(stateDir: string, host: string, vm: string): LockInfo | undefined {
  const existing = readLock(lockPath(stateDir, host, vm));
  return typeof existing === 'object' ? existing : undefined;
}

/** Removes the lock for (host, vm) whoever holds it (the admin's `cleanup --force-unlock`). */
export function breakVmLock(stateDir: string, host: string, vm: string): boolean {
  try {
    unlinkSync(lockPath(stateDir, host, vm));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

function tryCreate(path: string, info: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify(info) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readLock(path: string): LockInfo | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as LockInfo;
    if (typeof parsed.pid !== 'number' || typeof parsed.runId !== 'string') return 'unreadable';
    return parsed;
  } catch {
    return 'unreadable';
  }
}

function whyStale(existing: LockInfo | 'unreadable', path: string, foreignStaleAfterMs?: number): string | undefined {
  if (existing === 'unreadable') {
    const age = ageOfFile(path);
    return age !== undefined && age > UNREADABLE_STALE_AFTER_MS ? 'unreadable lock file' : undefined;
  }
  if (existing.hostname === osHostname()) {
    return isProcessAlive(existing.pid, Date.parse(existing.startedAt))
      ? undefined
      : `pid ${existing.pid} is no longer running`;
  }
  const age = Date.now() - Date.parse(existing.startedAt);
  if (foreignStaleAfterMs !== undefined && age > foreignStaleAfterMs) {
    return `held by ${existing.hostname} since ${existing.startedAt}, older than ${foreignStaleAfterMs} ms`;
  }
  return undefined;
}

/**
 * Moves the stale file aside atomically, so of two processes taking over at once only one wins;
 * if what was moved is not the file judged stale (someone replaced it meanwhile), puts it back.
 */
function takeOver(path: string, judged: LockInfo | 'unreadable'): boolean {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = readLock(aside);
  const same =
    judged === 'unreadable' ? moved === 'unreadable' : typeof moved === 'object' && moved.runId === judged.runId;
  if (!same) {
    try {
      linkSync(aside, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  unlinkSync(aside);
  return same;
}

function ageOfFile(path: string): number | undefined {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function lockedError(path: string, holder: LockInfo | 'unreadable', vm: string): VcbError {
  if (holder === 'unreadable') {
    return new VcbError('LOCKED', `VM ${vm} is locked by ${path}, which is being written or damaged; retry, or remove it if no backup is running`, { vm });
  }
  const where = holder.hostname === osHostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on ${holder.hostname}`;
  return new VcbError(
    'LOCKED',
    `VM ${vm} on ${holder.host} is already being backed up by ${where} since ${holder.startedAt} (run ${holder.runId}); ` +
      `if that backup is no longer running, run \`vcbmounter cleanup\` or remove ${path}`,
    { vm },
  );
}
