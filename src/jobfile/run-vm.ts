// One VM of a job: its backup through the step engine (on the host's shared session), retried where that is safe, bounded by its timeout, then verified and pruned.

import { setTimeout as sleep } from 'node:timers/promises';
import { VcbError } from '../errors.js';
import { exitCodeFor, EXIT } from '../cli/exit-codes.js';
import { jobTypeFor, runJob, type JobResult } from '../jobs/index.js';
import type { Logger } from '../log.js';
import { backupsParent } from './destination.js';
import { listBackups, verifyBackup } from './backup-set.js';
import { problemLines, type VerifyProblem } from '../export/index.js';
import { applyRetention, decideRetention } from './retention.js';
import { stateDirPath } from '../engine/index.js';
import type { HostPool } from './host-pool.js';
import type { LoadedJob } from './load.js';
import { backupOptionsFor, destinationFor, sharedBackupsText, vmIdentity, type VmTask } from './plan.js';
import type { VmRunSummary } from './summary-types.js';

/** Failures worth another try: nothing was acquired, and the cause may clear (a network blip, another run's lock). */
const RETRYABLE = new Set(['CONNECT', 'LOCKED']);
const DEFAULT_ATTEMPTS = 2;
const DEFAULT_WAIT_S = 30;

export interface VmRunEnv {
  loaded: LoadedJob;
  pool: HostPool;
  log: Logger;
  /** The run's signal (an interrupt stops every VM). */
  signal: AbortSignal;
  jobName: string;
  onProgress?: (task: VmTask, done: number, total: number) => void;
}

function errorOf(e: unknown): VcbError {
  return e instanceof VcbError ? e : new VcbError('INTERNAL', (e as Error)?.message ?? String(e));
}

/** One try of the backup, bounded by timeouts.vm: the timeout aborts the run as an interrupt would, so everything is released. */
async function backupOnce(task: VmTask, env: VmRunEnv, dir: string, log: Logger): Promise<JobResult> {
  const h = env.loaded.job.hosts[task.host]!;
  const o = backupOptionsFor(task, h, env.loaded.passwords.get(task.host), dir, env.loaded.job.stateDir);
  const limitS = task.settings.timeouts?.vm;
  const timer = new AbortController();
  const signal = AbortSignal.any([env.signal, timer.signal]);
  const clock = limitS === undefined ? undefined : setTimeout(() => timer.abort(new Error('timeouts.vm')), limitS * 1000);
  try {
    return await runJob(jobTypeFor(o.type, { agent: o.agent ?? o.agentPreset, hook: o.hook, stream: o.stream, cold: o.cold }), o, {
      log,
      signal,
      keepSessionOpen: true,
      openSession: () => env.pool.session(task.host),
      listedVm: task.vm.ref,
      ...(env.onProgress ? { onProgress: (d: number, t: number) => env.onProgress!(task, d, t) } : {}),
    });
  } catch (e) {
    if (timer.signal.aborted && !env.signal.aborted) {
      const err = errorOf(e);
      throw new VcbError(err.code === 'CLEANUP' ? 'CLEANUP' : 'EXPORT', `timed out after ${limitS} s (timeouts.vm) in step ${err.context.step ?? '?'}: ${err.message}`, err.context, { cause: e });
    }
    throw e;
  } finally {
    clearTimeout(clock);
  }
}

/** Problems a run summary lists in detail (each with file and offset); the count says how many there were. */
const SUMMARY_PROBLEMS = 20;

/**
 * Verifies a fullvm export against its catalog, as `vcbmounter verify` does; the record it leaves is what
 * lets retention count the backup. Returns undefined when it matches, else the error for the summary (the
 * first problems, one per line) and those problems.
 */
async function verifyNewBackup(dir: string, signal: AbortSignal): Promise<{ error: string; problems: VerifyProblem[] } | undefined> {
  const result = await verifyBackup(dir, { signal });
  if (result.ok) return undefined;
  const count = result.problems.length + result.problemsOmitted;
  const problems = result.problems.slice(0, SUMMARY_PROBLEMS);
  const more = count > problems.length ? [`... ${count - problems.length} more: run vcbmounter verify ${dir}`] : [];
  return {
    error: [`${dir} does not match its catalog (${count} problem(s)); the backup is kept but not counted`, ...problemLines(problems, SUMMARY_PROBLEMS), ...more].join('\n'),
    problems,
  };
}

export async function runVmTask(task: VmTask, env: VmRunEnv): Promise<VmRunSummary> {
  const log = env.log.child({ host: task.host, vm: task.vm.name });
  const started = Date.now();
  const s = task.settings;
  const attempts = 1 + (s.retries?.attempts ?? DEFAULT_ATTEMPTS);
  const base: VmRunSummary = { host: task.host, vm: task.vm.name, result: 'failed', exitCode: EXIT.FAILED, bytes: 0, durationMs: 0, rate: 0, warnings: [] };
  const finish = (x: Partial<VmRunSummary>): VmRunSummary => {
    const durationMs = Date.now() - started;
    const bytes = x.bytes ?? 0;
    return { ...base, ...x, durationMs, rate: durationMs > 0 ? Math.round((bytes * 1000) / durationMs) : 0 };
  };
  let result: JobResult | undefined;
  let dir = '';
  for (let attempt = 1; ; attempt++) {
    dir = destinationFor(task, env.jobName, new Date());
    try {
      log.info({ dir: dir || undefined, attempt }, 'backup started');
      result = await backupOnce(task, env, dir, log);
      break;
    } catch (e) {
      const err = errorOf(e);
      const again = attempt < attempts && RETRYABLE.has(err.code) && !env.signal.aborted;
      if (!again) {
        log.error({ code: err.code, step: err.context.step }, err.message);
        return finish({ failedStep: err.context.step ?? 'backup', error: err.message, exitCode: err.code === 'INTERRUPTED' ? EXIT.INTERRUPTED : exitCodeFor(err.code), ...(dir ? { dir } : {}) });
      }
      const wait = (s.retries?.wait ?? DEFAULT_WAIT_S) * 2 ** (attempt - 1);
      log.warn({ code: err.code, attempt, of: attempts }, `${err.message}; trying again in ${wait} s (retries)`);
      await sleep(wait * 1000, undefined, { signal: env.signal }).catch(() => {});
    }
  }
  const done: Partial<VmRunSummary> = { result: 'ok', exitCode: EXIT.OK, bytes: result.bytes, warnings: result.warnings, ...(dir ? { dir } : {}) };
  const keepsExport = (s.type ?? 'fullvm') === 'fullvm' && !s.stream && dir !== '';
  if (!keepsExport) return finish(done);
  try {
    if (s.verify !== false) {
      const failed = await verifyNewBackup(dir, env.signal);
      if (failed) {
        log.error({ code: 'EXPORT', step: 'verify' }, failed.error);
        return finish({ ...done, result: 'failed', exitCode: EXIT.EXPORT, failedStep: 'verify', error: failed.error, verifyProblems: failed.problems });
      }
      done.verified = true;
    }
    if (s.keep && task.sharesBackupsWith) {
      const why = sharedBackupsText(task, backupsParent(dir));
      log.warn({ dir: backupsParent(dir) }, why);
      done.warnings = [...(done.warnings ?? []), why];
    } else if (s.keep) {
      const entries = await listBackups(backupsParent(dir), vmIdentity(task));
      const decision = decideRetention(entries, s.keep, { requireVerified: s.verify !== false, protect: [dir] });
      const applied = await applyRetention(decision, log, { stateDir: stateDirPath(env.loaded.job.stateDir) });
      done.pruned = applied.removed;
      done.kept = decision.keep.map((k) => k.entry.dir);
      for (const f of applied.failed) done.warnings = [...(done.warnings ?? []), `retention could not delete ${f.dir}: ${f.error}`];
    }
  } catch (e) {
    const err = errorOf(e);
    log.error({ code: err.code, step: err.context.step ?? 'retention' }, err.message);
    return finish({ ...done, result: 'failed', exitCode: exitCodeFor(err.code), failedStep: err.context.step ?? 'retention', error: err.message });
  }
  return finish(done);
}
