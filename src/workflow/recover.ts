// Releases what an interrupted run left behind (its journal's outstanding resources) through the release registry.

import { Journal, markRecovered, UndoStack, type OpenRun } from '../engine/index.js';
import { describeCleanupFailures } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { releaseResource, type ReleaseEnv } from '../resources/index.js';

export interface RecoveryEnv extends Omit<ReleaseEnv, 'signal' | 'deadline'> {
  stateDir: string;
  /** Bound on releasing everything the run left (the same --cleanup-timeout a live unwind has). */
  cleanupTimeoutMs: number;
}

export interface RecoveryReport {
  runId: string;
  /** What was there and is given back. */
  released: string[];
  /** What was recorded as held but was gone already. */
  gone: string[];
}

/**
 * Releases an open run's outstanding resources in reverse order, each with its kind's release function
 * (the one the live run would have used), recording each release in the run's journal. Marks the run
 * recovered when everything was released; otherwise throws CLEANUP naming what is left and why.
 */
export async function recoverRun(run: OpenRun, env: RecoveryEnv): Promise<RecoveryReport> {
  const journal = Journal.reopen(env.stateDir, run.runId);
  const undo = new UndoStack(journal);
  for (const res of run.outstanding) {
    undo.adopt(
      {
        kind: res.kind,
        description: res.description,
        resource: res.resource,
        release: (ctx) => releaseResource(res.kind, res.resource, { ...env, signal: ctx.signal, deadline: ctx.deadline }),
      },
      res.id,
    );
  }
  const result = await undo.unwind({ timeoutMs: env.cleanupTimeoutMs });
  journal.close();
  if (result.failed.length) {
    const waiting = result.failed.every((f) => f.error instanceof VcbError && f.error.code === 'SETTLING');
    throw new VcbError(waiting ? 'SETTLING' : 'CLEANUP', `could not release everything run ${run.runId} left behind: ${describeCleanupFailures(result.failed)}`, { vm: run.vm });
  }
  markRecovered(env.stateDir, run.runId);
  const gone = new Set(result.absent);
  return { runId: run.runId, released: result.released.filter((e) => !gone.has(e)).map((e) => e.description), gone: result.absent.map((e) => e.description) };
}
