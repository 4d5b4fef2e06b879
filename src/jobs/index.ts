// The job types by -t name, and running one.

import { VcbError } from '../errors.js';
import { fullvm } from './fullvm.js';
import { file } from './file.js';
import type { JobType } from '../steps/step.js';

export const JOB_TYPES: Readonly<Record<string, JobType>> = { fullvm, file };

/** The job type -t names, or a usage error for one this version cannot run yet. */
export function jobTypeFor(name: string): JobType {
  const type = JOB_TYPES[name];
  if (!type) throw new VcbError('USAGE', `-t ${name} is not available yet: this version does -t fullvm (image) and -t file (mounted guest volumes)`);
  return type;
}

export { runJob, type JobResult } from './run-job.js';
export { dryRunPlan } from './dry-run.js';
export type { JobContext, JobDeps, JobStep, JobType, JobState } from '../steps/step.js';
