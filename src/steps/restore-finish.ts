// Step finish: the restored VM and its directory are kept; a VM it replaced is deleted (its files set aside, if any).

import type { RestoreStep } from './restore-step.js';

export const finishRestore: RestoreStep = {
  name: 'finish',
  describe: (o) => (o.policy === 'overwrite' ? 'keep the restored VM; delete the replaced VM\'s files set aside' : 'keep the restored VM'),
  acquires: [],
  errorCode: 'CLEANUP',
  hostCommands: ['^rm -rf ', '^ls -d'],
  async run(ctx) {
    const { job } = ctx;
    job.registeredHandle?.forget();
    job.dirHandle?.forget();
    const replaced = job.replacedHandle;
    if (!replaced) return;
    replaced.update({ completed: true });
    try {
      await replaced.releaseNow({ timeoutMs: ctx.o.cleanupTimeoutMs });
    } catch (e) {
      // The restore is done; the old files stay on the stack, the final unwind (or cleanup) tries again.
      ctx.log.warn({ err: (e as Error).message }, 'could not delete the replaced VM\'s files yet');
    }
  },
};
