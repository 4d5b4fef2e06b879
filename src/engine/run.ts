// Runs a plan's steps in order; on success, failure or interrupt it unwinds what they acquired, within a bound.

import { VcbError, type ErrorCode } from '../errors.js';
import { cleanupOnlyError, errorMessage, withCleanupErrors } from './cleanup-errors.js';
import type { RunStatus } from './journal.js';
import { ReleaseAbandonedError, type UndoEntry, type UndoStack } from './undo.js';

/** The part of a pino logger the engine uses. */
export interface EngineLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface StepEvent {
  type: 'start' | 'done' | 'failed';
  step: string;
  description: string;
  error?: unknown;
}

export interface RunContext {
  /** The run's abort signal (from installSignalHandlers, or any controller). */
  signal: AbortSignal;
  undo: UndoStack;
  /** Ended by runSteps with the run's status when given (a Journal, or one opened on first use). */
  journal?: { end(status: RunStatus): void };
  log: EngineLog;
  onStep?: (event: StepEvent) => void;
  /** Bound on the final unwind (default 120 s). */
  unwindTimeoutMs?: number;
  /** After an abort, how long a step may run on before the runner stops waiting and unwinds (default 10 s). */
  abandonAfterMs?: number;
  /** Put in error contexts. */
  vm?: string;
}

export interface Step<C extends RunContext = RunContext> {
  /** Short stable name, e.g. 'snapshot'; appears in errors as context.step. */
  name: string;
  /** What the step will do, in words, for --dry-run and logs. */
  description: string;
  /** Code for errors the step throws that are not VcbErrors (default INTERNAL). */
  errorCode?: ErrorCode;
  run(ctx: C & { step: string }): Promise<void>;
}

export interface RunSummary {
  completed: string[];
  released: UndoEntry[];
}

const DEFAULT_UNWIND_MS = 120_000;
/** How long an interrupted step may take to notice the abort before the run stops waiting for it and unwinds. */
const DEFAULT_ABANDON_MS = 10_000;

/**
 * Waits for a step, but once the run's signal is aborted, only for graceMs more: a step stuck in a call that
 * ignores the signal (a hung file system, say) must not keep the snapshot from being released.
 */
async function stepOrAbandon(running: Promise<void>, signal: AbortSignal, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const abandoned = new Promise<never>((_, reject) => {
    onAbort = () => {
      timer = setTimeout(() => reject(signal.reason ?? new Error('aborted')), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  abandoned.catch(() => {});
  try {
    await Promise.race([running, abandoned]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** "1. snapshot: create snapshot vcb-... of web01", one line per step, for --dry-run. */
export function describePlan(steps: ReadonlyArray<Pick<Step, 'name' | 'description'>>): string[] {
  return steps.map((s, i) => `${i + 1}. ${s.name}: ${s.description}`);
}

/**
 * Runs `steps` in order, checking ctx.signal before each, then unwinds ctx.undo in every case
 * (anything meant to survive the run must have been forget()-ten). Resolves when every step and
 * every release succeeded. Otherwise throws a VcbError the CLI maps to an exit code:
 * - a step failed: that error (non-VcbErrors wrapped with the step's errorCode), context.step set,
 *   with cleanup failures appended by withCleanupErrors;
 * - the signal was aborted: INTERRUPTED with the step it happened in (and cleanup failures);
 * - all steps succeeded but a release failed: CLEANUP.
 * The journal, if any, gets end('ok' | 'failed' | 'interrupted').
 */
export async function runSteps<C extends RunContext>(steps: ReadonlyArray<Step<C>>, ctx: C): Promise<RunSummary> {
  const completed: string[] = [];
  let failure: unknown;
  let status: RunStatus = 'ok';
  for (const step of steps) {
    if (ctx.signal.aborted) {
      failure = interrupted(ctx, step.name, 'before', undefined);
      status = 'interrupted';
      break;
    }
    ctx.onStep?.({ type: 'start', step: step.name, description: step.description });
    ctx.log.info({ step: step.name }, step.description);
    try {
      await stepOrAbandon(step.run({ ...ctx, step: step.name }), ctx.signal, ctx.abandonAfterMs ?? DEFAULT_ABANDON_MS);
    } catch (error) {
      failure = ctx.signal.aborted ? interrupted(ctx, step.name, 'during', error) : tagWithStep(error, step, ctx.vm);
      status = ctx.signal.aborted ? 'interrupted' : 'failed';
      ctx.onStep?.({ type: 'failed', step: step.name, description: step.description, error: failure });
      break;
    }
    completed.push(step.name);
    ctx.onStep?.({ type: 'done', step: step.name, description: step.description });
  }

  const unwound = await ctx.undo.unwind({ timeoutMs: ctx.unwindTimeoutMs ?? DEFAULT_UNWIND_MS });
  for (const f of unwound.failed) {
    ctx.log.warn({ kind: f.entry.kind, resource: f.entry.resource, err: errorMessage(f.error) }, `cleanup failed: ${f.entry.description}`);
  }
  if (failure === undefined && unwound.failed.length > 0) {
    failure = cleanupOnlyError(unwound.failed, { vm: ctx.vm });
    status = 'failed';
  } else if (status === 'failed' && unwound.failed.length === 0 && ctx.undo.pending.length === 0) {
    failure = releasedAfterAll(failure, unwound.released);
  }
  try {
    ctx.journal?.end(status);
  } catch (error) {
    ctx.log.warn({ err: errorMessage(error) }, 'could not write the end of the journal');
  }
  if (failure !== undefined) throw withCleanupErrors(failure, unwound.failed);
  return { completed, released: unwound.released };
}

/**
 * A step whose own release (releaseNow) ran out of time, after which the final unwind released that very entry,
 * and everything else: nothing is left, so it is not exit 8's "could not be released" but a command the host did
 * not carry out in time (HOST_COMMAND), and the message says nothing is left. Any other CLEANUP failure of a
 * step (an earlier run's leftovers it could not release, say) stays CLEANUP: those are not on this run's stack.
 */
function releasedAfterAll(failure: unknown, released: readonly UndoEntry[]): unknown {
  if (!(failure instanceof ReleaseAbandonedError) || !released.some((e) => e.id === failure.entryId)) return failure;
  const message = `${failure.message}; the release was tried again at the end of the run and succeeded: nothing is left`;
  return new VcbError('HOST_COMMAND', message, failure.context, { cause: failure });
}

function interrupted(ctx: RunContext, step: string, when: 'before' | 'during', cause: unknown): VcbError {
  const reason = ctx.signal.reason;
  const what = reason instanceof Error ? reason.message : 'interrupted';
  return new VcbError('INTERRUPTED', `${what} ${when} step ${step}`, { vm: ctx.vm, step }, { cause: cause ?? reason });
}

function tagWithStep(error: unknown, step: Pick<Step, 'name' | 'errorCode'>, vm: string | undefined): VcbError {
  if (error instanceof VcbError) {
    // A release the step made itself (releaseNow) that gave up is the step's failure, not the final unwind's.
    if (error instanceof ReleaseAbandonedError) error.context.step = step.name;
    error.context.step ??= step.name;
    if (vm !== undefined) error.context.vm ??= vm;
    return error;
  }
  return new VcbError(step.errorCode ?? 'INTERNAL', `${step.name}: ${errorMessage(error)}`, { vm, step: step.name }, { cause: error });
}
