// --dry-run: the steps a job would take, printed from the same step list the run uses; nothing is contacted.

import { resolve } from 'node:path';
import { describePlan } from '../engine/index.js';
import type { BackupOptions } from '../workflow/options.js';
import type { JobType } from '../steps/step.js';

export function dryRunPlan(type: JobType, o: BackupOptions): string[] {
  const dir = resolve(o.dir);
  return describePlan(
    type.steps.map((s) => ({ name: s.name, description: s.describe(o, dir) + (s.acquires.length ? ` [acquires: ${s.acquires.join(', ')}]` : '') })),
  );
}
