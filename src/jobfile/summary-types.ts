// What one `vcbmounter run JOB` did: per VM its result, and the totals; printed, written as JSON and sent to notifications.

import { basename, extname } from 'node:path';
import type { VerifyProblem } from '../export/verify-problems.js';

/** The job's short name: the job file's name without its directory and extension ("nightly" for /etc/vcbmounter/nightly.yaml). */
export function jobNameOf(path: string): string {
  const file = basename(path);
  return basename(file, extname(file)) || file;
}

export type VmOutcome = 'ok' | 'failed' | 'skipped';

export interface VmRunSummary {
  /** The job file's name for the host (its key under `hosts:`). */
  host: string;
  vm: string;
  result: VmOutcome;
  /** The export directory (its destination with the placeholders filled in); absent when none was made. */
  dir?: string;
  /** On failure: the step that failed (`connect`, `snapshot`, `export`, ...) and the message, without secrets. */
  failedStep?: string;
  error?: string;
  /** The exit code a single `vcbmounter` run would have given for this VM. */
  exitCode: number;
  bytes: number;
  durationMs: number;
  /** Bytes per second over durationMs (0 when nothing was copied). */
  rate: number;
  verified?: boolean;
  /** When the verify found the new backup damaged: its first problems, each with the file and the byte offset in it. */
  verifyProblems?: VerifyProblem[];
  /** Backups of this VM that retention deleted (directories) and kept, after this run. */
  pruned?: string[];
  kept?: string[];
  warnings: string[];
}

export interface RunSummary {
  /** The job file, absolute. */
  job: string;
  /** 'ok' when every VM is ok, 'failed' when none is, else 'partial'. */
  status: 'ok' | 'partial' | 'failed';
  startedAt: string;
  endedAt: string;
  durationMs: number;
  vms: VmRunSummary[];
  /** Totals over vms. */
  counts: { ok: number; failed: number; skipped: number };
  bytes: number;
  /** Problems not tied to one VM (a host that could not be listed, a notification that failed). */
  errors: string[];
}
