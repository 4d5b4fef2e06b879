// Step connect (restore): log in to the host over SSH and detect its command set.

import { openHostSession } from '../workflow/connect.js';
import type { RestoreStep } from './restore-step.js';

export const restoreConnect: RestoreStep = {
  name: 'connect',
  describe: (o) => `log in to ${o.user}@${o.host}:${o.port} over SSH and detect the host's command set`,
  acquires: [],
  errorCode: 'CONNECT',
  hostCommands: ['^vim-cmd vmsvc/getallvms', '^vmware-cmd -l'],
  async run(ctx) {
    const open = ctx.deps.openSession ?? ((o) => openHostSession(o, ctx.log, ctx.signal));
    ctx.job.session = await open(ctx.o);
  },
};
