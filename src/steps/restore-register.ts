// Step register: the restored .vmx registered with the host (unregistered again if the restore does not finish).

import { need, type RestoreStep } from './restore-step.js';

export const registerVm: RestoreStep = {
  name: 'register',
  describe: () => 'register the VM (vim-cmd solo/registervm, vmware-cmd -s register)',
  acquires: ['registered-vm'],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^vim-cmd solo/registervm', '^vmware-cmd -s register', '^vim-cmd vmsvc/unregister', '^vmware-cmd -s unregister', '^vim-cmd vmsvc/getallvms', '^vmware-cmd -l'],
  async run(ctx) {
    const { job } = ctx;
    const plan = need(job.plan, 'the plan');
    const esx = need(job.session, 'the session').esx;
    job.registeredHandle = ctx.acquire('registered-vm', `the restored VM ${plan.name} registered on the host`, { vmxPath: plan.vmxPath, name: plan.name });
    job.registered = await esx.registerVm(plan.vmxPath, plan.name);
    job.registeredHandle.update({ id: job.registered.id });
  },
};
