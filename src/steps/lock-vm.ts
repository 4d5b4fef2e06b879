// Step lock: take this proxy's lock on the VM (one backup of a VM at a time); the journal opens with it.

import { acquireVmLock } from '../engine/index.js';
import type { JobStep } from './step.js';

export const lock: JobStep = {
  name: 'lock',
  describe: () => 'take the per-VM lock and open the run journal',
  acquires: ['vm-lock'],
  errorCode: 'LOCKED',
  hostCommands: [],
  writesDestination: false,
  async run(ctx) {
    const host = ctx.job.session!.label;
    const vm = ctx.job.vm!.ref.name;
    ctx.acquire('vm-lock', `lock on ${vm}`, { stateDir: ctx.stateDir, host, vm, runId: ctx.runId });
    acquireVmLock({
      stateDir: ctx.stateDir,
      host,
      vm,
      runId: ctx.runId,
      argv: ['-h', ctx.o.host, '-a', ctx.o.selector, '-r', ctx.dir, '-t', ctx.o.type],
      onWarning: (m) => ctx.log.warn(m),
    });
  },
};
