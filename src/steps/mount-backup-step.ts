// The mount-backup job's step contract: its options, and the context and state its steps share.

import type { RunContext, UndoHandle } from '../engine/index.js';
import type { ErrorCode } from '../errors.js';
import type { Catalog } from '../export/index.js';
import type { Logger } from '../log.js';
import type { VolumeRecord } from '../mount/layout.js';
import type { ResourceKind } from '../resources/index.js';

export interface MountBackupOptions {
  /** The fullvm export directory (DIR). */
  backup: string;
  /** Where the volumes go (MOUNTPOINT). */
  mountPoint: string;
  stateDir?: string | undefined;
  cleanupTimeoutMs: number;
}

export interface MountBackupDeps {
  log: Logger;
  signal: AbortSignal;
  /** Given a way to list what the run holds right now, for a forced exit to name what it leaves. */
  onHolding?: (holding: () => string[]) => void;
}

export interface MountBackupState {
  /** DIR, absolute with links resolved: what the journal records as mounted. */
  backup: string;
  catalog?: Catalog;
  /** Each disk's descriptor in the export, absolute, in catalog order. */
  descriptors: string[];
  server?: { pid: number; startedBefore: number; logFile: string };
  serverHandle?: UndoHandle;
  diskFiles?: string[];
  volumes?: VolumeRecord[];
  warnings: string[];
}

export interface MountBackupContext extends RunContext {
  o: MountBackupOptions;
  log: Logger;
  runId: string;
  /** MOUNTPOINT, absolute. */
  dir: string;
  stateDir: string;
  job: MountBackupState;
  /** Registers a resource's release (the registry's function for its kind) and journals it; call it before acquiring. */
  acquire(kind: ResourceKind, description: string, resource: Record<string, unknown>): UndoHandle;
  /** Journals that process `pid` holds what the run still holds from now on. */
  recordHandOver(pid: number, startedBefore: number): void;
}

/** One step of the mount-backup job: data the runner, --dry-run and the docs read. */
export interface MountBackupStep {
  name: string;
  describe(o: MountBackupOptions): string;
  acquires: readonly ResourceKind[];
  errorCode: ErrorCode;
  run(ctx: MountBackupContext): Promise<void>;
}
