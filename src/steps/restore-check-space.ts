// Step space: the datastore must have room for every allocated block and file before anything is written.

import { VcbError } from '../errors.js';
import { stat } from 'node:fs/promises';
import { BLOCK } from '../restore/plan.js';
import { need, type RestoreStep } from './restore-step.js';

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

/** Whole VMFS blocks: a thin file takes a block for any byte it holds. */
function blocksFor(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / BLOCK)) * BLOCK;
}

export const checkSpace: RestoreStep = {
  name: 'space',
  describe: (o) => `check that ${o.datastore ? `datastore ${o.datastore}` : "the catalog's datastore"} has room for the disks' allocated blocks and the VM's files (vmkfstools -P)`,
  acquires: [],
  errorCode: 'DATASTORE_FULL',
  hostCommands: ['^vmkfstools -P'],
  async run(ctx) {
    const { job } = ctx;
    const plan = need(job.plan, 'the plan');
    const esx = need(job.session, 'the session').esx;
    let needed = 0;
    plan.disks.forEach((_, i) => {
      needed += job.blocks[i]!.length * BLOCK + BLOCK; // the blocks, and the descriptor
    });
    for (const f of plan.files) needed += blocksFor((await stat(f.local)).size);
    needed += BLOCK; // the .vmx
    const space = await esx.volumeSpace(`/vmfs/volumes/${plan.datastore}`);
    ctx.log.info({ datastore: plan.datastore, free: space.free, needed }, 'datastore space');
    if (needed > space.free) {
      throw new VcbError(
        'DATASTORE_FULL',
        `datastore ${plan.datastore} has ${gib(space.free)} free; the restore needs ${gib(needed)} (${gib(needed - space.free)} missing): nothing was written; free space there or restore to another datastore (--datastore DS)`,
      );
    }
  },
};
