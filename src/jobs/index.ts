// The job types by -t name, and running one.

import { fullvm } from './fullvm.js';
import type { JobType } from '../steps/step.js';

export const JOB_TYPES: Readonly<Record<string, JobType>> = { fullvm };

export { runJob, type JobResult } from './run-job.js';
export { dryRunPlan } from './dry-run.js';
export type { JobContext, JobDeps, JobStep, JobType, JobState } from '../steps/step.js';
