// Step connect: log in to the host over SSH and detect its command set (vim-cmd or vmware-cmd).

import type { JobStep } from './step.js';
import { openHostSession } from '../workflow/connect.js';

export const connect: JobStep = {
  name: 'connect',
  describe: (o) => `log in to ${o.user}@${o.host}:${o.port} over SSH and detect the host's command set`,
  acquires: [],
  errorCode: 'CONNECT',
  hostCommands: ['^vim-cmd vmsvc/getallvms', '^vmware-cmd -l'],
  writesDestination: false,
  async run(ctx) {
    const open = ctx.deps.openSession ?? ((o) => openHostSession(o, ctx.log, ctx.signal));
    ctx.job.session = await open(ctx.o);
  },
};
