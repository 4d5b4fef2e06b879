// Step power-on (--cold): the VM the shut-down step powered off is powered on right after the snapshot, before any disk is copied.

import { VcbError } from '../errors.js';
import type { JobStep } from './step.js';

export const powerOn: JobStep = {
  name: 'power-on',
  describe: () => 'cold: power the VM on again at once (the copy reads the snapshot); nothing to do for a VM that was off',
  acquires: [],
  errorCode: 'POWER',
  hostCommands: ['^vim-cmd vmsvc/power\\.(getstate|on)', '^vmware-cmd .*(getstate|start)'],
  writesDestination: false,
  async run(ctx) {
    const { job, o, log } = ctx;
    const handle = job.poweredOffHandle;
    const vm = job.vm!.ref.name;
    if (!handle) return;
    // A failure here fails the run: its unwind tries again at once, rather than after a copy that may take hours.
    const outcome = await handle.releaseNow({ timeoutMs: Math.max(o.commandTimeoutMs, 60_000) });
    if (outcome === 'absent') log.warn(`${vm} was powered on by something else while the snapshot was taken`);
    // The host records the power state each snapshot was taken in (vim-cmd prints it): a cold backup's must be off.
    const state = job.snapshot?.state;
    if (state !== undefined && !/off/i.test(state)) {
      throw new VcbError('POWER', `${vm}: the snapshot was taken while the VM was ${state} (something powered it on after the shutdown): it is not a cold backup; run it again`, { vm });
    }
  },
};
