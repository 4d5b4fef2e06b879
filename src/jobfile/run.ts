// `vcbmounter run JOB`: lists each host once, plans, runs the VMs within the limits, and sums up the run.

import type { Logger } from '../log.js';
import { EXIT } from '../cli/exit-codes.js';
import { HostPool } from './host-pool.js';
import type { LoadedJob } from './load.js';
import { planJob, type VmTask } from './plan.js';
import { runWithinLimits } from './limits.js';
import { runVmTask } from './run-vm.js';
import { jobNameOf, type RunSummary, type VmRunSummary } from './summary-types.js';
import type { HostSession } from '../workflow/connect.js';
import type { VmListing } from '../workflow/vm-listing.js';

export interface JobRunDeps {
  log: Logger;
  signal: AbortSignal;
  /** Tests and the benchmark may open sessions their own way. */
  openSession?: (host: string) => Promise<HostSession>;
  onVmStart?: (task: VmTask) => void;
  onVmEnd?: (task: VmTask, result: VmRunSummary) => void;
  onProgress?: (task: VmTask, done: number, total: number) => void;
}

/** Each host's VMs, listed once; a host that cannot be listed fails the entries that name it. */
async function listHosts(loaded: LoadedJob, pool: HostPool, log: Logger): Promise<{ listings: Map<string, VmListing[]>; failed: VmRunSummary[]; errors: string[] }> {
  const listings = new Map<string, VmListing[]>();
  const failed: VmRunSummary[] = [];
  const errors: string[] = [];
  const hosts = [...new Set(loaded.job.vms.map((v) => v.host))];
  await Promise.all(
    hosts.map(async (host) => {
      try {
        listings.set(host, await pool.listing(host));
      } catch (e) {
        const message = (e as Error).message;
        log.error({ host }, `cannot list the VMs of ${host}: ${message}`);
        errors.push(`${host}: cannot list its VMs: ${message}`);
        loaded.job.vms.forEach((entry, i) => {
          if (entry.host !== host) return;
          failed.push({ host, vm: `vms[${i}] ${entry.select.join(' ')}`, result: 'failed', failedStep: 'connect', error: message, exitCode: EXIT.CONNECT, bytes: 0, durationMs: 0, rate: 0, warnings: [] });
        });
      }
    }),
  );
  return { listings, failed, errors };
}

export function statusOf(vms: readonly VmRunSummary[], problems: number): RunSummary['status'] {
  const ok = vms.filter((v) => v.result === 'ok').length;
  if (ok === vms.length && problems === 0) return 'ok';
  return ok === 0 ? 'failed' : 'partial';
}

export async function runJobFile(loaded: LoadedJob, deps: JobRunDeps): Promise<RunSummary> {
  const started = new Date();
  const { log } = deps;
  const pool = new HostPool(loaded, log, deps.signal, deps.openSession);
  const results: VmRunSummary[] = [];
  const errors: string[] = [];
  try {
    const listed = await listHosts(loaded, pool, log);
    results.push(...listed.failed);
    errors.push(...listed.errors);
    const plan = planJob(loaded, listed.listings);
    for (const n of plan.notes) log.info(n);
    for (const p of plan.problems) log.error(p);
    errors.push(...plan.problems);
    const byTask = new Map<VmTask, VmRunSummary>();
    const env = { loaded, pool, log, signal: deps.signal, jobName: jobNameOf(loaded.path), ...(deps.onProgress ? { onProgress: deps.onProgress } : {}) };
    await runWithinLimits(
      plan.tasks.map((t) => Object.assign(t, { datastore: t.vm.datastore })),
      loaded.job.concurrency,
      async (task) => {
        deps.onVmStart?.(task);
        const r = await runVmTask(task, env);
        byTask.set(task, r);
        deps.onVmEnd?.(task, r);
      },
      {
        stopped: () => deps.signal.aborted,
        skip: (task) =>
          byTask.set(task, { host: task.host, vm: task.vm.name, result: 'skipped', error: 'not started: the run was interrupted', exitCode: EXIT.INTERRUPTED, bytes: 0, durationMs: 0, rate: 0, warnings: [] }),
      },
    );
    results.push(...plan.tasks.map((t) => byTask.get(t)!));
  } finally {
    await pool.closeAll();
  }
  const ended = new Date();
  return {
    job: loaded.path,
    status: statusOf(results, errors.length),
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    durationMs: ended.getTime() - started.getTime(),
    vms: results,
    counts: {
      ok: results.filter((v) => v.result === 'ok').length,
      failed: results.filter((v) => v.result === 'failed').length,
      skipped: results.filter((v) => v.result === 'skipped').length,
    },
    bytes: results.reduce((n, v) => n + v.bytes, 0),
    errors,
  };
}
