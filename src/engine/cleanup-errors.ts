// Combines the error that stopped a run with the errors its cleanup ran into, original first.

import { VcbError } from '../errors.js';

/** One release that did not succeed during an unwind. */
export interface CleanupFailure {
  entry: { kind: string; description: string };
  error: unknown;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** What every message about leftovers ends with: what is left (each with why, if known) and the command that releases it. */
export function leftBehindAdvice(left: string, release: string): string {
  return `left behind: ${left}; run \`${release}\` (same --state-dir) to release it`;
}

/** "snapshot 'vcb-1' of web01: timed out after 30000 ms" — one line per failure. */
export function describeCleanupFailures(failures: readonly CleanupFailure[]): string {
  return failures.map((f) => `${f.entry.description}: ${errorMessage(f.error)}`).join('; ');
}

/**
 * The error to report when `original` stopped a run and its cleanup also had `failures`.
 * Rules: the original is never hidden. With no failures the original is returned unchanged.
 * Otherwise the result keeps the original's code and context (a VcbError stays a VcbError with
 * the same code; anything else becomes INTERNAL), its message leads with the original message
 * and then lists the cleanup failures, and its `cause` is an AggregateError of
 * [original, ...cleanup errors] so no stack trace is lost.
 */
export function withCleanupErrors(original: unknown, failures: readonly CleanupFailure[]): unknown {
  if (failures.length === 0) return original;
  const message = `${errorMessage(original)} (cleanup also failed: ${describeCleanupFailures(failures)})`;
  const cause = new AggregateError(
    [original, ...failures.map((f) => f.error)],
    'original error followed by cleanup errors',
  );
  if (original instanceof VcbError) {
    return new VcbError(original.code, message, { ...original.context }, { cause });
  }
  return new VcbError('INTERNAL', message, {}, { cause });
}

/**
 * The error to report when the work succeeded but cleanup had `failures` (code CLEANUP: the backup
 * may be fine, but something was left behind that `vcbmounter cleanup` must release).
 */
export function cleanupOnlyError(failures: readonly CleanupFailure[], context: { vm?: string } = {}): VcbError {
  return new VcbError(
    'CLEANUP',
    `cleanup failed: ${describeCleanupFailures(failures)}; run \`vcbmounter cleanup\` to release what was left`,
    { ...context, step: 'cleanup' },
    { cause: new AggregateError(failures.map((f) => f.error), 'cleanup errors') },
  );
}
