// Runs the user's --hook program at one phase of a job, vzdump style: `HOOK PHASE`, with what it is about in VCB_* variables.

import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { programEnv, runProgram } from '../agent/run-program.js';

/** In the order a job meets them; backup-abort replaces backup-end when a VM's backup fails. */
export const HOOK_PHASES = ['job-start', 'backup-start', 'pre-snapshot', 'post-snapshot', 'backup-end', 'backup-abort', 'job-end'] as const;
export type HookPhase = (typeof HOOK_PHASES)[number];

/** Phases after which nothing is left to stop: their failure is logged, never the run's result. */
const ADVISORY: readonly HookPhase[] = ['backup-abort'];

export interface HookValues {
  /** The VM's name once resolved; at job-start only the selector is known. */
  vm?: string;
  selector: string;
  dir: string;
  host: string;
  type: string;
  runId?: string;
  snapshotTime?: string;
  /** backup-end, backup-abort, job-end: ok, failed or interrupted. */
  status?: 'ok' | 'failed' | 'interrupted';
  /** With status failed or interrupted: the error's message. */
  error?: string;
}

export interface HookRun {
  file: string;
  timeoutMs: number;
  log: Logger;
  /** Our interrupt stops the hook; absent for the phases that run after an interrupt (abort, job-end). */
  signal?: AbortSignal;
}

/** The hook must be an executable file: checked before anything is contacted, so a typo costs no snapshot. */
export function checkHook(file: string): string {
  const path = resolve(file);
  try {
    if (!statSync(path).isFile()) throw new Error('not a regular file');
    accessSync(path, constants.X_OK);
  } catch (e) {
    throw new VcbError('USAGE', `--hook ${file}: cannot run it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the path of an executable script, which is called as SCRIPT PHASE`);
  }
  return path;
}

export function hookEnv(phase: HookPhase, v: HookValues): Record<string, string> {
  const set: Record<string, string | undefined> = {
    VCB_PHASE: phase,
    VCB_VM: v.vm ?? '',
    VCB_SELECTOR: v.selector,
    VCB_DIR: v.dir,
    VCB_HOST: v.host,
    VCB_TYPE: v.type,
    VCB_RUN_ID: v.runId,
    VCB_SNAPSHOT_TIME: v.snapshotTime,
    VCB_STATUS: v.status,
    VCB_ERROR: v.error,
  };
  const extra: Record<string, string> = {};
  for (const [name, value] of Object.entries(set)) if (value !== undefined) extra[name] = value;
  return programEnv(extra);
}

/**
 * Runs `file phase` to its end. A failure throws HOOK (the run stops there and unwinds) except at an
 * advisory phase, where it is logged as a warning and returned.
 */
export async function runHook(run: HookRun, phase: HookPhase, values: HookValues): Promise<string | undefined> {
  const log = run.log.child({ hook: phase });
  log.info({ file: run.file }, 'running the hook');
  const end = await runProgram({ file: run.file, args: [phase], env: hookEnv(phase, values), timeoutMs: run.timeoutMs, timeoutFlag: '--hook-timeout', name: `the hook ${run.file} ${phase}`, ...(run.signal ? { signal: run.signal } : {}), log });
  if (end.ok) return undefined;
  const message = `the hook ${run.file} ${end.why} at ${phase} after ${end.seconds.toFixed(1)} s; its output is in the log`;
  if (ADVISORY.includes(phase)) {
    log.warn(message);
    return message;
  }
  throw new VcbError('HOOK', message);
}
