// Step shut-down (--cold): the guest shut down cleanly before the snapshot (hard only if asked); registered first, so whatever fails powers the VM on again.

import { VcbError } from '../errors.js';
import { unanswered, waitForPowerState, type ShutdownAnswer, type VmRef } from '../esx/index.js';
import type { JobContext, JobStep } from './step.js';

/** Room for a hard power-off to take effect on the host after it was sent (hostd's task, the VMX going away). */
const HARD_OFF_SETTLE_MS = 60_000;

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/** Powers the VM off hard; its release must by then know the VM goes off. */
async function hardOff(ctx: JobContext, ref: VmRef, why: string): Promise<void> {
  const { job, o, log } = ctx;
  const warning = `${ref.name}: ${why}; powered off hard (--hard-power-off): the backup is crash-consistent, as after a power cut`;
  job.warnings.push(warning);
  log.warn(warning);
  job.cold = 'powered-off-hard';
  job.poweredOffHandle!.update({ outcome: 'requested', settleBy: Date.now() + Math.max(HARD_OFF_SETTLE_MS, 2 * o.commandTimeoutMs) });
  try {
    await job.session!.esx.powerOff(ref, { timeoutMs: o.commandTimeoutMs });
  } catch (e) {
    // The guest may have finished shutting down just now: the host then refuses to power off a VM that is off.
    if ((await job.session!.esx.powerState(ref)) !== 'off') throw e;
  }
  const state = await waitForPowerState(job.session!.esx, ref, 'off', Date.now() + HARD_OFF_SETTLE_MS, ctx.signal);
  if (state !== 'off') throw new VcbError('POWER', `${ref.name} is still ${state} ${seconds(HARD_OFF_SETTLE_MS)} after the host accepted a hard power-off`, { vm: ref.name });
}

export const shutDown: JobStep = {
  name: 'shut-down',
  describe: (o) =>
    `cold: shut the guest down cleanly through VMware Tools, waiting at most ${seconds(o.shutdownTimeoutMs)}` +
    (o.hardPowerOff ? ', else power it off hard' : ' (a VM without running Tools, or a shutdown that times out, fails the backup and stays on)') +
    '; the VM is powered on again whatever fails afterwards; a VM that is off stays off, a suspended one is refused',
  acquires: ['powered-off-vm'],
  errorCode: 'POWER',
  hostCommands: ['^vim-cmd vmsvc/power\\.(getstate|shutdown|off)', '^vmware-cmd .*(getstate|stop)'],
  writesDestination: false,
  async run(ctx) {
    const { job, o, log } = ctx;
    const { ref, info } = job.vm!;
    const esx = job.session!.esx;
    const state = await esx.powerState(ref);
    if (state === 'off') {
      log.info(`${ref.name} is powered off already: the cold backup takes its snapshot as it is and leaves it off`);
      info.powerState = 'off';
      job.cold = 'was-off';
      return;
    }
    if (state !== 'on') {
      throw new VcbError(
        'POWER',
        `${ref.name} is ${state}: a cold backup needs the VM powered on (it is shut down and powered on again) or off (left off); ${state === 'suspended' ? 'resume it or power it off' : 'answer its pending question in the VI Client'} first, or back it up without --cold`,
        { vm: ref.name },
      );
    }
    const requestedAt = Date.now();
    job.poweredOffHandle = ctx.acquire('powered-off-vm', `${ref.name} shut down for the cold backup (powered on again on release)`, {
      host: job.session!.label,
      vmId: ref.id,
      vm: ref.name,
      vmxPath: ref.vmxPath,
      settleBy: requestedAt + o.shutdownTimeoutMs,
      timeoutMs: o.commandTimeoutMs,
    });
    log.info({ timeoutS: o.shutdownTimeoutMs / 1000 }, `shutting the guest of ${ref.name} down`);
    let answer: ShutdownAnswer;
    try {
      answer = await esx.shutdownGuest(ref, { timeoutMs: o.shutdownTimeoutMs });
    } catch (e) {
      // Without an answer the host may still act on the request later: as for an unanswered snapshot create,
      // the release waits for the VM to go off until a second timeout has passed.
      if (unanswered(e)) job.poweredOffHandle.update({ settleBy: requestedAt + 2 * o.shutdownTimeoutMs });
      else job.poweredOffHandle.update({ outcome: 'refused' });
      throw e;
    }
    if (answer === 'no-tools') {
      job.poweredOffHandle.update({ outcome: 'refused' });
      const why = 'VMware Tools are not running in its guest, so it cannot be shut down cleanly';
      if (!o.hardPowerOff) {
        throw new VcbError('POWER', `${ref.name}: ${why}; the VM was left on. Start VMware Tools in the guest, or add --hard-power-off (hardPowerOff: true) to power it off hard for the snapshot, or back it up without --cold`, { vm: ref.name });
      }
      await hardOff(ctx, ref, why);
    } else {
      job.poweredOffHandle.update({ outcome: 'requested' });
      const now = await waitForPowerState(esx, ref, 'off', requestedAt + o.shutdownTimeoutMs, ctx.signal);
      if (now !== 'off') {
        const why = `its guest did not shut down within --shutdown-timeout ${seconds(o.shutdownTimeoutMs)}`;
        if (!o.hardPowerOff) {
          throw new VcbError(
            'POWER',
            `${ref.name}: ${why}; it is still ${now}, and no snapshot was taken. The guest may still finish shutting down later (it cannot be called back), and would then stay off: check it. Allow longer with --shutdown-timeout, or add --hard-power-off`,
            { vm: ref.name },
          );
        }
        await hardOff(ctx, ref, why);
      }
    }
    job.poweredOffHandle.update({ outcome: 'off' });
    info.powerState = 'off';
    job.cold ??= 'shut-down';
    log.info({ seconds: Math.round((Date.now() - requestedAt) / 100) / 10 }, `${ref.name} is powered off`);
  },
};
