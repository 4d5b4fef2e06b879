// Which fullvm backups mount-backup has mounted on this proxy, from the state directory's journals: a mounted backup is never deleted.

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { listOpenRuns } from '../engine/index.js';
import { VcbError } from '../errors.js';

export interface BackupMount {
  runId: string;
  /** Where its volumes are mounted (what -U takes). */
  mountPoint: string;
  /** The process that holds it: the disk server once mounted, the mount-backup command before. */
  pid: number;
}

/** A directory as mount-backup records it: absolute, symbolic links resolved when it exists. */
export function backupPath(dir: string): string {
  const absolute = resolve(dir);
  try {
    return realpathSync(absolute);
  } catch {
    return absolute;
  }
}

/**
 * The live mounts of the backup at `dir` recorded in `stateDir`. A record whose process is gone (the disk server
 * was killed, the machine rebooted) is a dead mount and does not count; one written on another machine
 * (pid unknown here) does, as it may still be reading.
 */
export function mountsOfBackup(stateDir: string, dir: string, exceptRunId?: string): BackupMount[] {
  const path = backupPath(dir);
  return listOpenRuns(stateDir)
    .filter((r) => r.source === path && r.pidAlive !== false && r.runId !== exceptRunId)
    .map((r) => ({ runId: r.runId, mountPoint: r.dir ?? '(unknown)', pid: r.pid }));
}

/** Throws DESTINATION when the backup at `dir` is mounted: `action` (what would delete it) must not go ahead. */
export function refuseMountedBackup(stateDir: string, dir: string, action: string): void {
  const mounts = mountsOfBackup(stateDir, dir);
  if (mounts.length === 0) return;
  const where = mounts.map((m) => `${m.mountPoint} (pid ${m.pid})`).join(', ');
  throw new VcbError('DESTINATION', `${action}: the backup ${backupPath(dir)} is mounted at ${where} by vcbmounter mount-backup; take it down first with vcbmounter -U ${mounts[0]!.mountPoint}`);
}
