// The job types by -t name, and running one.

import { VcbError } from '../errors.js';
import { fullvm } from './fullvm.js';
import { file } from './file.js';
import { fullvmStream } from './stream.js';
import { agent } from '../steps/run-agent.js';
import { hookStep } from '../steps/hook.js';
import { shutDown } from '../steps/shut-down-vm.js';
import { powerOn } from '../steps/power-on-vm.js';
import type { JobStep, JobType } from '../steps/step.js';

export const JOB_TYPES: Readonly<Record<string, JobType>> = { fullvm, file };

/** The --hook phases a VM's steps carry: backup-start once the VM is known, two around the snapshot, backup-end last. */
function withHookSteps(steps: readonly JobStep[]): JobStep[] {
  return [
    ...steps.flatMap((s) => {
      if (s.name === 'resolve') return [s, hookStep('backup-start')];
      if (s.name === 'snapshot') return [hookStep('pre-snapshot'), s, hookStep('post-snapshot')];
      return [s];
    }),
    hookStep('backup-end'),
  ];
}

/**
 * --cold: the guest shut down right before the snapshot and powered on right after it. Applied after the hook
 * steps, so that pre-snapshot runs while the guest still runs and post-snapshot once it is powered on again.
 */
function withColdSteps(steps: readonly JobStep[]): JobStep[] {
  return steps.flatMap((s) => (s.name === 'snapshot' ? [shutDown, s, powerOn] : [s]));
}

/**
 * The job type -t names, or a usage error for one this version cannot run yet. With an agent the agent step
 * comes last and nothing is handed over: the run itself releases the mounts and the snapshot after it.
 */
export function jobTypeFor(name: string, options: { agent?: string | undefined; hook?: string | undefined; stream?: boolean; cold?: boolean } = {}): JobType {
  const type = options.stream && name === 'fullvm' ? fullvmStream : JOB_TYPES[name];
  if (!type) throw new VcbError('USAGE', `-t ${name} is not available yet: this version does -t fullvm (image) and -t file (mounted guest volumes)`);
  let steps: readonly JobStep[] = type.steps;
  // A stream's agent is started by its stream step.
  if (options.agent && !options.stream) steps = [...steps.filter((s) => s.name !== 'hand-over'), agent];
  if (options.hook) steps = withHookSteps(steps);
  if (options.cold) steps = withColdSteps(steps);
  return steps === type.steps ? type : { name: type.name, steps };
}

export { runJob, type JobResult } from './run-job.js';
export { dryRunPlan } from './dry-run.js';
export type { ColdSnapshot, JobContext, JobDeps, JobStep, JobType, JobState } from '../steps/step.js';
