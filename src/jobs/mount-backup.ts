// The mount-backup job: the guest volumes of a fullvm backup on this proxy, mounted read-only as -t file mounts a snapshot's, until -U.

import { resolve as resolvePath } from 'node:path';
import { leftBehindAdvice, runSteps } from '../engine/index.js';
import type { VolumeRecord } from '../mount/layout.js';
import { backupPath } from '../workflow/backup-mounts.js';
import { checkBackupProxy } from '../steps/mount-backup-proxy.js';
import { readBackup } from '../steps/mount-backup-read.js';
import { checkMountPoint } from '../steps/mount-backup-destination.js';
import { lockBackup } from '../steps/mount-backup-lock.js';
import { serveBackup } from '../steps/mount-backup-serve.js';
import { mountBackupVolumes } from '../steps/mount-backup-mount.js';
import { handOverBackup } from '../steps/mount-backup-hand-over.js';
import type { MountBackupContext, MountBackupDeps, MountBackupOptions, MountBackupState, MountBackupStep } from '../steps/mount-backup-step.js';
import { engineSteps, leftBehindError, openRunFrame } from './run-frame.js';

/** The steps in order: every check before the first acquire (the lock, which opens the journal). */
export const MOUNT_BACKUP_STEPS: readonly MountBackupStep[] = [checkBackupProxy, readBackup, checkMountPoint, lockBackup, serveBackup, mountBackupVolumes, handOverBackup];

export interface MountBackupResult {
  runId: string;
  backup: string;
  dir: string;
  vm: { name: string; id?: string };
  host: string;
  /** When the backup's snapshot was taken (the catalog's startedAt) and whether it was quiesced. */
  backupTime: string;
  quiesced: boolean;
  volumes: VolumeRecord[];
  warnings: string[];
  startedAt: string;
  endedAt: string;
}

/** --dry-run: the steps, each with what it would do. */
export function mountBackupDryRun(o: MountBackupOptions): string[] {
  return MOUNT_BACKUP_STEPS.map((s, i) => `${i + 1}. ${s.name}: ${s.describe(o)}${s.acquires.length ? ` [acquires ${s.acquires.join(', ')}]` : ''}`);
}

export async function runMountBackup(o: MountBackupOptions, deps: MountBackupDeps): Promise<MountBackupResult> {
  const { log } = deps;
  const dir = resolvePath(o.mountPoint);
  const job: MountBackupState = { backup: backupPath(o.backup), descriptors: [], warnings: [] };
  const frame = openRunFrame({
    signal: deps.signal,
    log,
    unwindTimeoutMs: o.cleanupTimeoutMs,
    stateDir: o.stateDir,
    journal: () => ({ host: job.catalog!.host.name, vm: job.catalog!.vm.name, dir, source: job.backup }),
    release: { warn: (w: string) => job.warnings.push(w) },
    onHolding: deps.onHolding,
  });
  const { runId } = frame.context;
  const ctx: MountBackupContext = {
    ...frame.context,
    o,
    dir,
    job,
    get vm() {
      return job.catalog?.vm.name;
    },
    recordHandOver: (pid, startedBefore) => frame.recordHandOver(pid, startedBefore, dir),
  };
  const steps = engineSteps(MOUNT_BACKUP_STEPS, (s) => s.describe(o), ctx);
  try {
    await runSteps(steps, ctx);
  } catch (e) {
    throw leftBehind(e, ctx);
  }
  const catalog = job.catalog!;
  return {
    runId,
    backup: job.backup,
    dir,
    vm: { name: catalog.vm.name, ...(catalog.vm.vmid ? { id: catalog.vm.vmid } : {}) },
    host: catalog.host.name,
    backupTime: catalog.startedAt,
    quiesced: catalog.snapshot.quiesced,
    volumes: job.volumes!,
    warnings: job.warnings,
    startedAt: frame.startedAt,
    endedAt: new Date().toISOString(),
  };
}

/** What the unwind could not release makes it CLEANUP (exit 8), named with the command that finishes it: -U MOUNTPOINT. */
function leftBehind(e: unknown, ctx: MountBackupContext): unknown {
  return leftBehindError(e, ctx.undo, (error, left) => `${error.message}; ${leftBehindAdvice(left, `vcbmounter -U ${ctx.dir}`)}`);
}
