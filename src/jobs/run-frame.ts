// What every job runner (backup, restore, mount-backup) sets up around its steps: the run's id, a journal opened at the first acquire, the undo stack whose releases are the resource registry's, and the error that names what the unwind left.

import { DeferredJournal, Journal, newRunId, resolveStateDir, UndoStack, type Step, type UndoHandle } from '../engine/index.js';
import { VcbError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { releasable, type ReleaseEnv, type ResourceKind } from '../resources/index.js';

/** Where the run's journal goes, known only once the run has found its host and VM (the journal opens at the first acquire). */
export type JournalTarget = Omit<Parameters<typeof Journal.open>[0], 'stateDir' | 'runId'>;

/** The part of a job's context every runner's has alike (spread into it). */
export interface RunFrameContext {
  signal: AbortSignal;
  log: Logger;
  runId: string;
  stateDir: string;
  journal: DeferredJournal;
  undo: UndoStack;
  unwindTimeoutMs: number;
  /** Registers a resource's release (the registry's function for its kind) and journals it; call it before acquiring. */
  acquire(kind: ResourceKind, description: string, resource: Record<string, unknown>): UndoHandle;
}

export interface RunFrame {
  startedAt: string;
  context: RunFrameContext;
  /** Journals that process `pid` holds what the run still holds from now on, for `dir` (see Journal.handOver). */
  recordHandOver(pid: number, startedBefore: number, dir: string): void;
}

export interface RunFrameSpec {
  signal: AbortSignal;
  log: Logger;
  /** Bound on the final unwind (--cleanup-timeout). */
  unwindTimeoutMs: number;
  /** --state-dir as given (resolved here). */
  stateDir: string | undefined;
  journal: () => JournalTarget;
  /** What the releases get besides the log and the engine's bound and signal. */
  release: Omit<ReleaseEnv, 'signal' | 'deadline' | 'log'>;
  /** Told how to list what the run holds (a forced exit names it). */
  onHolding?: ((holding: () => string[]) => void) | undefined;
}

export function openRunFrame(spec: RunFrameSpec): RunFrame {
  const runId = newRunId();
  const stateDir = resolveStateDir(spec.stateDir);
  const journal = new DeferredJournal(() => Journal.open({ stateDir, runId, ...spec.journal() }));
  const undo = new UndoStack(journal);
  spec.onHolding?.(() => undo.pending.map((e) => e.description));
  const release = { ...spec.release, log: spec.log };
  return {
    startedAt: new Date().toISOString(),
    context: {
      signal: spec.signal,
      log: spec.log,
      runId,
      stateDir,
      journal,
      undo,
      unwindTimeoutMs: spec.unwindTimeoutMs,
      acquire: (kind, description, resource) => undo.push(releasable(kind, description, resource, release)),
    },
    recordHandOver: (pid, startedBefore, dir) => journal.opened?.handOver(pid, startedBefore, dir),
  };
}

/** A job's steps as the engine runs them: each described for the log, run with the job's context. */
export function engineSteps<C, S extends { name: string; errorCode: ErrorCode; run(ctx: C): Promise<void> }>(steps: readonly S[], describe: (step: S) => string, ctx: C): Step[] {
  return steps.map((s) => ({ name: s.name, description: describe(s), errorCode: s.errorCode, run: () => s.run(ctx) }));
}

/**
 * Whatever stopped the run, if the unwind could not release something, the error becomes CLEANUP (exit 8): that is
 * what the admin must act on. `message` gets the error and the list of what is left (each with why) and says what to run.
 */
export function leftBehindError(e: unknown, undo: UndoStack, message: (error: VcbError, left: string) => string): unknown {
  const pending = undo.pending;
  if (pending.length === 0 || !(e instanceof VcbError)) return e;
  const left = pending.map((l) => (l.lastError ? `${l.description} (${l.lastError})` : l.description)).join('; ');
  // The cause is what the message already says: the engine's grouping of the first error and cleanup's.
  return new VcbError('CLEANUP', message(e, left), { ...e.context }, { cause: e.cause ?? e });
}
