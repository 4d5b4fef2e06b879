// Step remove (--drill): the drill VM powered off, unregistered and deleted once it proved it boots; the original never touched.

import { need, type RestoreStep } from './restore-step.js';

export const removeDrillVm: RestoreStep = {
  name: 'remove',
  describe: () => 'power the drill VM off, unregister it and delete its directory',
  acquires: [],
  errorCode: 'CLEANUP',
  hostCommands: ['^vim-cmd vmsvc/power\\.off', '^vmware-cmd .* stop hard', '^vim-cmd vmsvc/unregister', '^vmware-cmd -s unregister', '^rm -rf ', '^ls -d', '^vim-cmd vmsvc/getallvms', '^vmware-cmd -l', '^vim-cmd vmsvc/get\\.summary', '^vmware-cmd .* getstate'],
  async run(ctx) {
    const { job } = ctx;
    // The releases the failure path uses, in the same order: a release that fails stays on the stack for the final unwind.
    await need(job.registeredHandle, 'the registered VM').releaseNow({ timeoutMs: ctx.o.cleanupTimeoutMs });
    await need(job.dirHandle, "the drill VM's directory").releaseNow({ timeoutMs: ctx.o.cleanupTimeoutMs });
    job.poweredOn = false;
    job.removed = true;
  },
};
