// Step files: the .vmx made right for its new place (disks, nvram, name, the moved-or-copied answer), the .nvram and the .vmsd.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { vmxEditsFor } from '../restore/plan.js';
import { disconnectedNics, editVmx } from '../restore/vmx-rewrite.js';
import { need, type RestoreStep } from './restore-step.js';

export const uploadFiles: RestoreStep = {
  name: 'files',
  describe: (o) =>
    `upload the .vmx (disk file names, nvram, displayName, uuid.action set for the new place${o.drill ? '; network cards start disconnected' : ''}), the .nvram and the .vmsd (cat > FILE)`,
  acquires: [],
  errorCode: 'HOST_COMMAND',
  // `cat > FILE`: the redirect is the host shell's, so the command the host runs is a bare `cat`.
  hostCommands: ['^cat$'],
  async run(ctx) {
    const { job } = ctx;
    const plan = need(job.plan, 'the plan');
    const catalog = need(job.catalog, 'the catalog');
    const esx = need(job.session, 'the session').esx;
    for (const f of plan.files) await esx.uploadFile(f.remote, await readFile(f.local), { signal: ctx.signal });
    const exported = await readFile(join(job.sourceDir, catalog.vm.vmxFile), 'utf8');
    const edits = vmxEditsFor(plan);
    if (ctx.o.drill) Object.assign(edits.set, disconnectedNics(exported));
    const vmx = editVmx(exported, edits);
    await esx.uploadFile(plan.vmxPath, Buffer.from(vmx, 'utf8'), { signal: ctx.signal });
    if (plan.skippedSlots.length) job.warnings.push(`not in the backup, left out of the restored VM (present = FALSE): ${plan.skippedSlots.join(', ')}`);
  },
};
