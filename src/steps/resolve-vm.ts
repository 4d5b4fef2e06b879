// Step resolve: find the VM the -a selector names among the host's VMs.

import type { JobStep } from './step.js';
import { confirmListedVm, parseSelector, resolveVm } from '../workflow/identify.js';

export const resolve: JobStep = {
  name: 'resolve',
  describe: (o) => `find the VM ${o.selector}`,
  acquires: [],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^vim-cmd vmsvc/(getallvms|get\\.summary|get\\.guest)', '^vmware-cmd .*(getstate|getconfig|getguestinfo)'],
  writesDestination: false,
  async run(ctx) {
    const esx = ctx.job.session!.esx;
    const selector = parseSelector(ctx.o.selector);
    const listed = ctx.deps.listedVm ? await confirmListedVm(esx, selector, ctx.deps.listedVm) : undefined;
    const vm = listed ?? (await resolveVm(esx, selector));
    ctx.job.vm = vm;
    ctx.log.info({ vm: vm.ref.name, id: vm.ref.id, power: vm.info.powerState }, 'VM found');
  },
};
