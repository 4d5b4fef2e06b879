// Step directory: the VM's new directory on the datastore, removed with everything in it if the restore does not finish.

import { changeHost, need, type RestoreStep } from './restore-step.js';

export const makeDirectory: RestoreStep = {
  name: 'directory',
  describe: (o) => `make the VM's directory ${o.folder ? `[DS] ${o.folder}` : 'on the datastore'} (a directory that exists is never reused)`,
  acquires: ['restore-dir'],
  errorCode: 'DESTINATION',
  hostCommands: ['^mkdir ', '^rm -rf ', '^ls -d'],
  async run(ctx) {
    const { job } = ctx;
    const plan = need(job.plan, 'the plan');
    const esx = need(job.session, 'the session').esx;
    if (plan.folder.includes('/')) await esx.makeDirectory(plan.dir.slice(0, plan.dir.lastIndexOf('/')), { parents: true });
    job.dirHandle = ctx.acquire('restore-dir', `the restored VM's directory [${plan.datastore}] ${plan.folder}`, { dir: plan.dir });
    await changeHost(job.dirHandle, ctx.o.commandTimeoutMs, () => esx.makeDirectory(plan.dir));
    job.dirHandle.update({ created: true });
  },
};
