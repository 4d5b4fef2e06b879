// The job types by -t name, and running one.

import { VcbError } from '../errors.js';
import { fullvm } from './fullvm.js';
import { file } from './file.js';
import { agent } from '../steps/run-agent.js';
import type { JobType } from '../steps/step.js';

export const JOB_TYPES: Readonly<Record<string, JobType>> = { fullvm, file };

/**
 * The job type -t names, or a usage error for one this version cannot run yet. With an agent the agent step
 * comes last and nothing is handed over: the run itself releases the mounts and the snapshot after it.
 */
export function jobTypeFor(name: string, options: { agent?: string | undefined } = {}): JobType {
  const type = JOB_TYPES[name];
  if (!type) throw new VcbError('USAGE', `-t ${name} is not available yet: this version does -t fullvm (image) and -t file (mounted guest volumes)`);
  if (!options.agent) return type;
  return { name: type.name, steps: [...type.steps.filter((s) => s.name !== 'hand-over'), agent] };
}

export { runJob, type JobResult } from './run-job.js';
export { dryRunPlan } from './dry-run.js';
export type { JobContext, JobDeps, JobStep, JobType, JobState } from '../steps/step.js';
