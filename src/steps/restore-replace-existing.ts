// Step replace (-b overwrite): unregister the powered-off VM being replaced and set its directory aside when the restore goes there.

import { changeHost, need, type RestoreStep } from './restore-step.js';

export const replaceExisting: RestoreStep = {
  name: 'replace',
  describe: (o) => (o.policy === 'overwrite' ? 'unregister the VM being replaced and move its directory aside (put back if the restore fails, deleted once it succeeds)' : 'nothing (no -b overwrite)'),
  acquires: ['replaced-vm'],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^vim-cmd vmsvc/unregister', '^vmware-cmd -s unregister', '^mv ', '^ls -d', '^vim-cmd solo/registervm', '^vmware-cmd -s register'],
  async run(ctx) {
    const { job } = ctx;
    const existing = job.existing;
    if (!existing) return;
    const esx = need(job.session, 'the session').esx;
    const dir = need(job.existingDir, "the replaced VM's directory");
    job.replacedHandle = ctx.acquire('replaced-vm', `the replaced VM ${existing.name} (unregistered${job.aside ? `, its files at ${job.aside}` : ''})`, {
      name: existing.name,
      vmxPath: `${dir}/${existing.vmxPath.slice(existing.vmxPath.lastIndexOf('/') + 1)}`,
      dir,
      aside: job.aside ?? '',
    });
    const handle = job.replacedHandle;
    await changeHost(handle, ctx.o.commandTimeoutMs, () => esx.unregisterVm(existing));
    const aside = job.aside;
    if (aside) await changeHost(handle, ctx.o.commandTimeoutMs, () => esx.movePath(dir, aside));
  },
};
