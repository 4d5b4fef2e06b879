// Step disks: read the .vmx and each disk's descriptor chain; independent disks and physical RDMs are skipped with a warning, excluded slots left out.

import { VcbError } from '../errors.js';
import type { JobStep } from './step.js';
import { planDisks } from '../workflow/disk-plan.js';

export const disks: JobStep = {
  name: 'disks',
  describe: (o) =>
    `read the .vmx and the disk descriptors (independent disks and physical RDMs are skipped${o.excludeDisks.length ? `; excluded: ${o.excludeDisks.join(', ')}, each of which must name a disk of the VM` : ''})`,
  acquires: [],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^cat .*\\.(vmx|vmdk)'],
  writesDestination: false,
  async run(ctx) {
    const { job } = ctx;
    const ref = job.vm!.ref;
    const plan = await planDisks(job.session!.esx, ref, ctx.o.excludeDisks);
    job.disks = plan.disks;
    job.skipped = plan.skipped;
    for (const s of plan.skipped) {
      // Left out on purpose: logged, but not a warning the summary should raise.
      if (s.reason === 'excluded') {
        ctx.log.info(`excluded ${s.device} (${s.path})`);
        continue;
      }
      const warning = `skipped ${s.device} (${s.path}): ${s.detail}`;
      job.warnings.push(warning);
      ctx.log.warn(warning);
    }
    if (job.disks.length === 0) throw new VcbError('EXPORT', `${ref.name} has no disk that can be backed up (${job.skipped.length} skipped)`);
  },
};
