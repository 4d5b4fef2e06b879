// Step heartbeat (--drill): wait until VMware Tools in the restored guest report in, proof that the backup boots.

import { VcbError } from '../errors.js';
import { HEARTBEAT_POLL_MS } from '../restore/drill.js';
import { need, type RestoreStep } from './restore-step.js';
import { pause } from '../util/pause.js';


export const waitForHeartbeat: RestoreStep = {
  name: 'heartbeat',
  describe: (o) => `wait up to ${Math.round(o.drillTimeoutMs / 1000)} s for VMware Tools in the guest to report a heartbeat (vim-cmd vmsvc/get.summary, vmware-cmd getheartbeat)`,
  acquires: [],
  errorCode: 'NO_HEARTBEAT',
  hostCommands: ['^vim-cmd vmsvc/get\\.summary', '^vmware-cmd .* getheartbeat'],
  async run(ctx) {
    const { job, o } = ctx;
    const esx = need(job.session, 'the session').esx;
    const vm = need(job.registered, 'the registered VM');
    const since = need(job.poweredOnAt, 'the power-on time');
    const until = since + o.drillTimeoutMs;
    let last = '';
    for (;;) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const beat = await esx.guestHeartbeat(vm);
      last = beat.evidence;
      if (beat.beating) {
        job.heartbeat = { afterMs: Date.now() - since, evidence: beat.evidence };
        ctx.log.info({ vm: vm.name, afterMs: job.heartbeat.afterMs, evidence: beat.evidence }, 'the guest reported a heartbeat');
        return;
      }
      if (Date.now() >= until) break;
      await pause(Math.min(HEARTBEAT_POLL_MS, Math.max(0, until - Date.now())), ctx.signal);
    }
    throw new VcbError(
      'NO_HEARTBEAT',
      `drill: ${vm.name} powered on but its guest reported no VMware Tools heartbeat within ${Math.round(o.drillTimeoutMs / 1000)} s (last: ${last}): the backup may not boot, or its guest has no VMware Tools (a slow guest: raise --drill-timeout)`,
    );
  },
};
