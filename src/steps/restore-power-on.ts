// Step power-on (--power-on, --drill): start the restored VM; the host refuses if its moved-or-copied question were left open.

import { need, type RestoreStep } from './restore-step.js';

export const powerOn: RestoreStep = {
  name: 'power-on',
  describe: (o) => (o.drill ? 'power the drill VM on' : o.powerOn ? 'power the VM on' : 'leave the VM powered off (no --power-on)'),
  acquires: [],
  errorCode: 'HOST_COMMAND',
  hostCommands: ['^vim-cmd vmsvc/power\\.on', '^vmware-cmd .* start'],
  async run(ctx) {
    if (!ctx.o.powerOn && !ctx.o.drill) return;
    const esx = need(ctx.job.session, 'the session').esx;
    await esx.powerOn(need(ctx.job.registered, 'the registered VM'));
    ctx.job.poweredOn = true;
    ctx.job.poweredOnAt = Date.now();
  },
};
