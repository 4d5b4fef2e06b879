// Step blockmap: ask the host where each frozen base disk's blocks lie (vmkfstools -t0); a virtual RDM is read whole.

import type { JobStep } from './step.js';

export const readBlockMaps: JobStep = {
  name: 'blockmap',
  describe: () => 'read the block list of each base disk (vmkfstools -t0; a virtual RDM is read whole)',
  acquires: [],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^vmkfstools '],
  writesDestination: false,
  async run(ctx) {
    const esx = ctx.job.session!.esx;
    for (const d of ctx.job.disks) d.blockMap ??= await esx.blockMap(d.base);
  },
};
