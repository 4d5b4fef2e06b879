// --dry-run: the steps a job would take, printed from the same step list the run uses; nothing is contacted.

import { resolve } from 'node:path';
import { describePlan } from '../engine/index.js';
import type { BackupOptions } from '../workflow/options.js';
import type { JobType } from '../steps/step.js';

export function dryRunPlan(type: JobType, o: BackupOptions): string[] {
  const dir = o.dir ? resolve(o.dir) : '';
  const steps = type.steps.map((s) => ({ name: s.name, description: s.describe(o, dir) + (s.acquires.length ? ` [acquires: ${s.acquires.join(', ')}]` : '') }));
  if (o.hook) {
    steps.unshift({ name: 'hook-job-start', description: `run the hook: ${o.hook} job-start, before anything is contacted` });
    steps.push({ name: 'hook-job-end', description: `run the hook: ${o.hook} job-end, whatever happened (backup-abort first if the VM's backup failed)` });
  }
  return describePlan(steps);
}
