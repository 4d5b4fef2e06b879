// A VM a cold backup shut down, as a resource: released by powering it on again once it is off (waiting out a shutdown still under way).

import { VcbError } from '../errors.js';
import { waitForPowerState, type VmRef } from '../esx/index.js';
import { withReconnect } from '../transport/index.js';
import { field, msLeft, type ReleaseEnv, type ResourceType } from './types.js';

export interface PoweredOffVmResource {
  /** Host label the run was recorded under. */
  host: string;
  vmId: string;
  vm: string;
  vmxPath: string;
  /**
   * What the run learnt: 'requested' (the host accepted a shutdown or power-off: the VM goes off, if it is not
   * yet), 'refused' (the host refused the shutdown: nothing will turn the VM off), 'off' (the run saw it off).
   * Unset: the request may or may not have reached the host.
   */
  outcome?: 'requested' | 'refused' | 'off';
  /**
   * Epoch ms until which a request the host may have accepted can still turn the VM off (the end of the
   * shutdown wait, or of a hard power-off's bound). A VM still on after it is left as it is.
   */
  settleBy: number;
  /** Bound on the power-on command (the run's --command-timeout). */
  timeoutMs: number;
}

function describeOn(r: PoweredOffVmResource): string {
  return `${r.vm} on ${r.host}`;
}

async function powerOnWhenOff(r: PoweredOffVmResource, env: ReleaseEnv): Promise<'released' | 'absent'> {
  const session = await env.host!();
  const ref: VmRef = { id: r.vmId, name: r.vm, vmxPath: r.vmxPath };
  return withReconnect(
    session.transport,
    async () => {
      const esx = session.esx;
      let state = await esx.powerState(ref);
      if (state === 'on' && r.outcome !== 'refused' && Date.now() < r.settleBy) {
        // The guest may still be shutting down (an interrupt during the wait): it cannot be called back, so it is
        // waited for, to be powered on once it is off.
        env.log.info({ vm: r.vm }, 'waiting for the guest to finish shutting down, to power it on again');
        state = await waitForPowerState(esx, ref, 'off', Math.min(r.settleBy, env.deadline - 1_000), env.signal);
        if (state === 'on' && Date.now() < r.settleBy) {
          throw new VcbError(
            'SETTLING',
            `still waiting: the guest of ${describeOn(r)} was asked to shut down and may still do so until ${new Date(r.settleBy).toISOString()}; cleanup powers it on once it is off`,
            { vm: r.vm },
          );
        }
      }
      if (state === 'on') {
        if (r.outcome !== 'off' && r.outcome !== 'refused') {
          const warning = `${describeOn(r)} is still on: its guest ${r.outcome === 'requested' ? 'was' : 'may have been'} asked to shut down and did not within the time allowed; it may still shut down later, and would then stay off: check it`;
          env.warn?.(warning);
          env.log.warn({ vm: r.vm }, warning);
        }
        return 'absent';
      }
      if (state !== 'off') {
        throw new VcbError('POWER', `${describeOn(r)} is ${state}, not off: it was not left so by vcbmounter's cold backup; bring it back by hand (the VI Client, or vim-cmd vmsvc/power.on)`, { vm: r.vm });
      }
      await esx.powerOn(ref, { timeoutMs: Math.min(r.timeoutMs, msLeft(env.deadline)) });
      env.log.info({ vm: r.vm }, 'VM powered on again after the cold snapshot');
      return 'released';
    },
    env.signal,
  );
}

export const poweredOffVm: ResourceType<PoweredOffVmResource> = {
  kind: 'powered-off-vm',
  needsHost: true,
  parse(f) {
    const settleBy = Number(f.settleBy);
    const timeoutMs = f.timeoutMs === undefined ? 5 * 60_000 : Number(f.timeoutMs);
    if (!Number.isFinite(settleBy) || !Number.isFinite(timeoutMs)) throw new Error('powered-off-vm resource: settleBy or timeoutMs is not a number');
    const outcome = f.outcome === 'requested' || f.outcome === 'refused' || f.outcome === 'off' ? f.outcome : undefined;
    return {
      host: field(f, 'host', 'powered-off-vm'),
      vmId: field(f, 'vmId', 'powered-off-vm'),
      vm: field(f, 'vm', 'powered-off-vm'),
      vmxPath: field(f, 'vmxPath', 'powered-off-vm'),
      settleBy,
      timeoutMs,
      ...(outcome ? { outcome } : {}),
    };
  },
  async release(r, env) {
    if (!env.host) {
      throw new VcbError('CLEANUP', `${describeOn(r)} may still be powered off by a cold backup: run \`vcbmounter cleanup -h ${env.hostFlags ?? r.host} ...\` (same --state-dir) to power it on`, { vm: r.vm });
    }
    return powerOnWhenOff(r, env);
  },
};
