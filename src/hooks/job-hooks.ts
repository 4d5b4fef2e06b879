// The job-level --hook phases: job-start before anything is contacted, job-end after everything, with the job's status.

import { VcbError } from '../errors.js';
import { runHook, type HookRun, type HookValues } from './run-hook.js';

export function statusOf(e: unknown): 'failed' | 'interrupted' {
  return e instanceof VcbError && e.code === 'INTERRUPTED' ? 'interrupted' : 'failed';
}

/**
 * Runs `job` between job-start and job-end. A failing job-start stops the job before it begins; a failing
 * job-end fails a job that succeeded, and is only logged after one that failed (its error stays the result).
 */
export async function withJobHooks<T>(hook: HookRun | undefined, values: HookValues, job: () => Promise<T>): Promise<T> {
  if (!hook) return job();
  await runHook(hook, 'job-start', values);
  let result: T;
  try {
    result = await job();
  } catch (e) {
    const { signal: _interrupt, ...afterInterrupt } = hook;
    await runHook(afterInterrupt, 'job-end', { ...values, status: statusOf(e), error: (e as Error).message }).catch((end: Error) => hook.log.warn(end.message));
    throw e;
  }
  await runHook(hook, 'job-end', { ...values, status: 'ok' });
  return result;
}
