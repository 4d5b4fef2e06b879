// Runs a job type's steps for one VM on the engine: journal, undo stack with the registry's releases, result or error.

import { resolve as resolvePath } from 'node:path';
import { leftBehindAdvice, runSteps } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { writeStateFile } from '../export/index.js';
import type { Catalog } from '../export/index.js';
import type { VolumeRecord } from '../mount/layout.js';
import { parseSelector } from '../workflow/identify.js';
import type { BackupOptions } from '../workflow/options.js';
import type { ColdSnapshot, JobContext, JobDeps, JobState, JobType } from '../steps/step.js';
import { hostFlags } from '../workflow/host-flags.js';
import { backupHookValues } from '../steps/hook.js';
import { runHook } from '../hooks/run-hook.js';
import { statusOf } from '../hooks/job-hooks.js';
import { engineSteps, leftBehindError, openRunFrame } from './run-frame.js';

export interface JobResult {
  runId: string;
  vm: { name: string; id: string };
  dir: string;
  quiesced: boolean;
  /** --cold: how the VM was off for the snapshot (absent without --cold). */
  cold?: ColdSnapshot;
  disks: Catalog['disks'];
  skipped: Catalog['skippedDisks'];
  /** -t file: every volume, where it is mounted or why not. */
  volumes?: VolumeRecord[];
  warnings: string[];
  startedAt: string;
  endedAt: string;
  bytes: number;
}


/** Flags this run cannot carry out (a transport, a malformed -a), refused before anything is touched. */
function refuseUnavailable(o: BackupOptions): void {
  if (o.mode === 'hotadd') {
    throw new VcbError('USAGE', '-m hotadd needs the backup proxy to be a VM on the same host, with the snapshot disks hot-added to it; this proxy reaches the host over SSH: use -m nbd (through the host) or -m san (read the LUN directly)');
  }
  if (o.hardPowerOff && !o.cold) throw new VcbError('USAGE', '--hard-power-off (hardPowerOff) applies to a cold backup only: add --cold (cold: true), or drop it');
  parseSelector(o.selector);
}

export async function runJob(type: JobType, o: BackupOptions, deps: JobDeps): Promise<JobResult> {
  refuseUnavailable(o);
  const { log } = deps;
  const dir = o.dir ? resolvePath(o.dir) : '';
  const job: JobState = { disks: [], skipped: [], quiesced: false, warnings: [], published: false };
  const frame = openRunFrame({
    signal: deps.signal,
    log,
    unwindTimeoutMs: o.cleanupTimeoutMs,
    stateDir: o.stateDir,
    journal: () => ({ host: job.session!.label, vm: job.vm!.ref.name, ...(dir ? { dir } : {}) }),
    release: { host: async () => job.session!, hostFlags: hostFlags(o), warn: (w: string) => job.warnings.push(w) },
    onHolding: deps.onHolding,
  });
  const { runId } = frame.context;
  const ctx: JobContext = {
    ...frame.context,
    o,
    deps,
    dir,
    job,
    get vm() {
      return job.vm?.ref.name;
    },
    recordHandOver: (pid, startedBefore) => frame.recordHandOver(pid, startedBefore, dir),
  };
  const steps = engineSteps(type.steps, (s) => s.describe(o, dir), ctx);
  try {
    await runSteps(steps, ctx);
  } catch (e) {
    const error = leftBehind(e, ctx);
    await abortHook(ctx, error);
    throw error;
  } finally {
    await recordHeldInExport(ctx);
    if (!deps.keepSessionOpen) await job.session?.transport.close().catch(() => {});
  }
  const catalog = job.exported?.catalog ?? job.streamed;
  return {
    runId,
    vm: { name: job.vm!.ref.name, id: job.vm!.ref.id },
    dir,
    quiesced: job.quiesced,
    ...(job.cold ? { cold: job.cold } : {}),
    disks: catalog?.disks ?? [],
    skipped: catalog?.skippedDisks ?? [],
    ...(job.volumes ? { volumes: job.volumes } : {}),
    warnings: job.warnings,
    startedAt: frame.startedAt,
    endedAt: new Date().toISOString(),
    bytes: (catalog?.disks ?? []).reduce((n, d) => n + (d.allocatedBytes ?? 0), 0),
  };
}

/** --hook backup-abort: after the unwind, so the script sees the VM without our snapshot; its own failure is only logged. */
async function abortHook(ctx: JobContext, error: unknown): Promise<void> {
  if (!ctx.o.hook) return;
  await runHook({ file: ctx.o.hook, timeoutMs: ctx.o.hookTimeoutMs, log: ctx.log }, 'backup-abort', {
    ...backupHookValues(ctx),
    status: statusOf(error),
    error: (error as Error).message,
  });
}

/**
 * The export's state file lists what -U must release. It was written before the final unwind; if the
 * snapshot was still held then and is released now (or the reverse), it is written again.
 */
async function recordHeldInExport(ctx: JobContext): Promise<void> {
  const { job } = ctx;
  const snapshot = job.snapshotHandle;
  if (!job.published || !snapshot || !job.stateFile) return;
  const stillHeld = snapshot.held;
  if (stillHeld === job.stateFile.listsSnapshot) return;
  try {
    await writeStateFile(ctx.dir, job.stateFile.content(stillHeld));
  } catch (e) {
    ctx.log.warn({ err: (e as Error).message, dir: ctx.dir }, 'could not update the state file of the export');
  }
}

/**
 * Something the unwind could not release (our snapshot on the host, say) makes the error CLEANUP (exit 8). The
 * message keeps the first error first, then names each thing left and why, then says once what to run.
 */
function leftBehind(e: unknown, ctx: JobContext): unknown {
  return leftBehindError(e, ctx.undo, (error, left) => {
    const original = firstError(error);
    const done = ctx.job.published ? `the backup in ${ctx.dir} is complete, but ` : '';
    const lead = original === undefined ? '' : `${original}; `;
    return `${lead}${done}${leftBehindAdvice(left, `vcbmounter cleanup -h ${hostFlags(ctx.o)} ...`)}`;
  });
}

/** The message of the error that stopped the run, without the cleanup failures the engine appended; undefined when only cleanup failed. */
function firstError(e: VcbError): string | undefined {
  if (e.context.step === 'cleanup' && e.code === 'CLEANUP') return undefined;
  const cause = e.cause;
  if (cause instanceof AggregateError && cause.errors.length > 0 && cause.errors[0] instanceof Error) return cause.errors[0].message;
  return e.message;
}
