// The step contract: what a step declares (name, resources, host commands) and the context and state a job's steps share.

import type { RunContext, UndoHandle } from '../engine/index.js';
import type { ErrorCode } from '../errors.js';
import type { HostSession, SnapshotInfo, VmRef } from '../esx/index.js';
import type { Catalog } from '../export/index.js';
import type { Logger } from '../log.js';
import type { VolumeRecord } from '../mount/layout.js';
import type { ResourceKind } from '../resources/index.js';
import type { ExportDiskPlan, SkippedPlan } from '../workflow/disk-plan.js';
import type { ResolvedVm } from '../workflow/identify.js';
import type { BackupOptions } from '../workflow/options.js';

/** A cold snapshot's VM: shut down cleanly, powered off hard (--hard-power-off: crash-consistent), or off before the run. */
export type ColdSnapshot = 'shut-down' | 'powered-off-hard' | 'was-off';

export interface JobDeps {
  log: Logger;
  signal: AbortSignal;
  /** Progress of the export in bytes (the CLI draws it on a terminal). */
  onProgress?: (done: number, total: number) => void;
  /** Opens the host session; tests and the embedded simulator pass their own. */
  openSession?: (o: BackupOptions) => Promise<HostSession>;
  /** The session belongs to the caller (a job file's run shares one per host): the run leaves it open. */
  keepSessionOpen?: boolean;
  /**
   * The VM as the caller's own listing of the host found it (a job file's selection): resolve then confirms it with
   * one info call instead of listing every VM again, and lists only when the host no longer agrees.
   */
  listedVm?: VmRef;
  /** Given a way to list what the run holds right now, for a forced exit to name what it leaves. */
  onHolding?: (holding: () => string[]) => void;
}

/** What the steps find and make: one object every step of a run reads and writes. */
export interface JobState {
  session?: HostSession;
  vm?: ResolvedVm;
  disks: ExportDiskPlan[];
  skipped: SkippedPlan[];
  /** The snapshot listing made by check-snapshots, while nothing changed the tree since: the create reuses it. */
  snapshotsListed?: SnapshotInfo[];
  snapshot?: SnapshotInfo;
  /** When the create returned, on this proxy's clock (what an agent is told the backup's time is). */
  snapshotTakenAt?: string;
  snapshotHandle?: UndoHandle;
  /** --cold: the VM the shut-down step powered off, released (powered on) by the power-on step; absent when it was off already. */
  poweredOffHandle?: UndoHandle;
  quiesced: boolean;
  /** --cold: how the VM came to be off for the snapshot (see ColdSnapshot). */
  cold?: ColdSnapshot;
  warnings: string[];
  partialHandle?: UndoHandle;
  /** The complete export, still in its partial directory until publish. */
  exported?: { partial: string; catalog: Catalog };
  /** --stream: the catalog of the export the agent received. */
  streamed?: Catalog;
  /** The export is in place at -r. */
  published: boolean;
  /** -t file: the disk server, the disk files nbdfuse presents, and the volumes found. */
  server?: { pid: number; startedBefore: number; logFile: string };
  diskFiles?: string[];
  volumes?: VolumeRecord[];
  /** What the export's state file says is held, and how to write it again when that changes. */
  stateFile?: { listsSnapshot: boolean; content(withSnapshot: boolean): unknown };
}

export interface JobContext extends RunContext {
  o: BackupOptions;
  deps: JobDeps;
  log: Logger;
  runId: string;
  /** -r, absolute. */
  dir: string;
  stateDir: string;
  job: JobState;
  /**
   * Registers a resource's release (the registry's function for its kind) and journals it; call it
   * before acquiring. Update the handle with what the acquire learnt.
   */
  acquire(kind: ResourceKind, description: string, resource: Record<string, unknown>): UndoHandle;
  /** Journals that process `pid` holds what the run still holds from now on (see Journal.handOver). */
  recordHandOver(pid: number, startedBefore: number): void;
}

/**
 * What presenting disks and mounting their volumes needs from a run: the -t file job's context has it, and so has
 * mount-backup's (which mounts a fullvm export's disks the same way). dir is where the volumes go.
 */
export type MountingContext = Pick<JobContext, 'signal' | 'undo' | 'log' | 'runId' | 'dir' | 'stateDir' | 'acquire' | 'recordHandOver'>;

/** One step of a job: data the runner, --dry-run, the docs and the fault matrix all read. */
export interface JobStep {
  /** Short stable name; errors say "step <name>". */
  name: string;
  /** What it will do, in words, for --dry-run and the log. */
  describe(o: BackupOptions, dir: string): string;
  /** Resource kinds it acquires (and registers before acquiring). */
  acquires: readonly ResourceKind[];
  /** Code for errors it throws that are not VcbErrors. */
  errorCode: ErrorCode;
  /**
   * Host commands it may run, as regular expressions on the command line (both command sets): the fault
   * matrix injects faults into exactly these.
   */
  hostCommands: readonly string[];
  /** It writes to the proxy's destination (a full destination fails it). */
  writesDestination: boolean;
  run(ctx: JobContext): Promise<void>;
}

export interface JobType {
  /** As -t names it. */
  name: string;
  steps: readonly JobStep[];
}
