// The restore job's step contract: what its steps declare, and the context and state they share.

import type { RunContext, UndoHandle } from '../engine/index.js';
import type { ErrorCode } from '../errors.js';
import type { HostSession, VmRef } from '../esx/index.js';
import type { Catalog } from '../export/index.js';
import type { Logger } from '../log.js';
import { settleTime, type ResourceKind } from '../resources/index.js';
import { unanswered } from '../esx/unanswered.js';
import type { RestorePlan } from '../restore/plan.js';
import type { RestoreOptions } from '../workflow/restore-options.js';

export interface RestoreDeps {
  log: Logger;
  signal: AbortSignal;
  /** Bytes sent of the disks' allocated bytes (the CLI draws it on a terminal). */
  onProgress?: (done: number, total: number) => void;
  /** Opens the host session; tests pass their own. */
  openSession?: (o: RestoreOptions) => Promise<HostSession>;
  /** Given a way to list what the run holds right now, for a forced exit to name what it leaves. */
  onHolding?: (holding: () => string[]) => void;
}

export interface RestoreState {
  /** -s, absolute. */
  sourceDir: string;
  catalog?: Catalog;
  /** Per disk (catalog order): the offsets of its listed (non-zero) blocks. */
  blocks: number[][];
  session?: HostSession;
  /** The name the VM is restored under (after -b rename). */
  name?: string;
  /** A VM registered under that name before the restore (-b overwrite replaces it). */
  existing?: VmRef;
  /** Its directory, and where it is set aside when the restore writes there ('' when not). */
  existingDir?: string;
  aside?: string;
  plan?: RestorePlan;
  replacedHandle?: UndoHandle;
  dirHandle?: UndoHandle;
  registeredHandle?: UndoHandle;
  registered?: VmRef;
  bytesTotal: number;
  bytesSent: number;
  poweredOn: boolean;
  /** --drill: when the power-on returned (epoch ms), the heartbeat seen, and whether the drill VM was removed. */
  poweredOnAt?: number;
  heartbeat?: { afterMs: number; evidence: string };
  removed?: boolean;
  warnings: string[];
}

export interface RestoreContext extends RunContext {
  o: RestoreOptions;
  deps: RestoreDeps;
  log: Logger;
  runId: string;
  stateDir: string;
  job: RestoreState;
  /** Registers a resource's release (the registry's function for its kind) and journals it; call it before acquiring. */
  acquire(kind: ResourceKind, description: string, resource: Record<string, unknown>): UndoHandle;
}

/** One step of the restore job: data the runner, --dry-run and the docs read. */
export interface RestoreStep {
  name: string;
  describe(o: RestoreOptions): string;
  acquires: readonly ResourceKind[];
  errorCode: ErrorCode;
  /** Host commands it may run, as regular expressions on the command line (both command sets). */
  hostCommands: readonly string[];
  run(ctx: RestoreContext): Promise<void>;
}

/** The state's value a later step needs, or an internal error naming the step that should have set it. */
export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`restore: ${what} is not known yet (steps out of order)`);
  return value;
}

/**
 * Runs a change on the host for a resource already on the undo stack. Until the host answers, the resource
 * carries `settleBy`: a command that got no answer (timed out, connection lost, interrupted) may still be
 * carried out by the host, so its release waits that long before it believes what it sees.
 */
export async function changeHost<T>(handle: UndoHandle, timeoutMs: number, change: () => Promise<T>): Promise<T> {
  handle.update({ settleBy: settleTime(Date.now(), timeoutMs) });
  let result: T;
  try {
    result = await change();
  } catch (e) {
    if (!unanswered(e)) handle.update({ settleBy: 0 });
    throw e;
  }
  handle.update({ settleBy: 0 });
  return result;
}
