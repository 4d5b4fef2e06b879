// A VM a restore registered: released by powering it off if it runs and unregistering it (its files go with restore-dir).

import { field, type ResourceType } from './types.js';
import { findRegistered, hostFor } from './restore-host.js';

export interface RegisteredVmResource {
  /** The .vmx registered, `/vmfs/volumes/<datastore>/<folder>/<file>.vmx`. */
  vmxPath: string;
  name: string;
  /** What the host answered the register with (vmid on ESXi), once it did. */
  id?: string;
}

export const registeredVm: ResourceType<RegisteredVmResource> = {
  kind: 'registered-vm',
  needsHost: true,
  parse: (f) => ({ vmxPath: field(f, 'vmxPath', 'registered-vm'), name: field(f, 'name', 'registered-vm'), ...(typeof f.id === 'string' ? { id: f.id } : {}) }),
  async release(r, env) {
    const esx = await hostFor(env, `unregistering ${r.name}`);
    // A register whose answer was lost may still have happened: look for the .vmx rather than trust the id.
    const vm = await findRegistered(esx, r.vmxPath, r.id);
    if (!vm) return 'absent';
    const info = await esx.getVmInfo(vm);
    if (info.powerState !== 'off') await esx.powerOff(vm, { timeoutMs: Math.max(1, env.deadline - Date.now()) });
    await esx.unregisterVm(vm);
    return 'released';
  },
};
