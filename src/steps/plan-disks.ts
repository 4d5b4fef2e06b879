// Step disks: read the .vmx and each disk's descriptor chain; independent disks and physical RDMs are skipped with a warning.

import { VcbError } from '../errors.js';
import type { JobStep } from './step.js';
import { planDisks } from '../workflow/disk-plan.js';

export const disks: JobStep = {
  name: 'disks',
  describe: () => 'read the .vmx and the disk descriptors (independent disks and physical RDMs are skipped)',
  acquires: [],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^cat .*\\.(vmx|vmdk)'],
  writesDestination: false,
  async run(ctx) {
    const { job } = ctx;
    const ref = job.vm!.ref;
    const plan = await planDisks(job.session!.esx, ref);
    job.disks = plan.disks;
    job.skipped = plan.skipped;
    for (const s of plan.skipped) {
      const warning = `skipped ${s.device} (${s.path}): ${s.detail}`;
      job.warnings.push(warning);
      ctx.log.warn(warning);
    }
    if (job.disks.length === 0) throw new VcbError('EXPORT', `${ref.name} has no disk that can be backed up (${job.skipped.length} skipped)`);
  },
};
