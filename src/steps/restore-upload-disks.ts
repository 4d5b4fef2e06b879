// Step disks: each disk as a new thin disk, only its allocated (listed) blocks sent, a few SSH channels at a time.

import { planWrites, extentRanges, writeBatches } from '../restore/upload-disk.js';
import { need, type RestoreStep } from './restore-step.js';

export const uploadDisks: RestoreStep = {
  name: 'disks',
  describe: () => 'create each disk thin (vmkfstools -c -d thin) and write only its non-zero blocks into its flat file (dd seek= conv=notrunc, fed over SSH)',
  acquires: [],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^vmkfstools -c', '^dd '],
  async run(ctx) {
    const { job, o } = ctx;
    const plan = need(job.plan, 'the plan');
    const esx = need(job.session, 'the session').esx;
    ctx.deps.onProgress?.(0, job.bytesTotal);
    for (const [i, disk] of plan.disks.entries()) {
      await esx.createThinDisk(disk.descriptorPath, disk.capacity, disk.adapter);
      const batches = planWrites(job.blocks[i]!, disk.capacity, await extentRanges(disk));
      ctx.log.info({ disk: disk.descriptorPath, blocks: job.blocks[i]!.length, channels: batches.length }, 'writing disk');
      await writeBatches(esx, disk.flatPath, batches, {
        parallel: o.parallelWrites,
        signal: ctx.signal,
        onBytes: (n) => {
          job.bytesSent += n;
          ctx.deps.onProgress?.(job.bytesSent, job.bytesTotal);
        },
      });
    }
  },
};
