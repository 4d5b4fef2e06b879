// A VM `restore -b overwrite` replaces: unregistered (and its directory set aside when the restore goes there).
// Released by deleting it once the restore is complete, or by putting it back as it was.

import { field, type ResourceType } from './types.js';
import { findRegistered, hostFor, settledBy, stillSettling } from './restore-host.js';

export interface ReplacedVmResource {
  name: string;
  /** Its .vmx where it was registered. */
  vmxPath: string;
  /** Its directory. */
  dir: string;
  /** Where its directory waits while the restore writes to the same place ('' when it stays where it is). */
  aside: string;
  /** The restore finished: the old VM's files set aside are deleted rather than put back. */
  completed?: boolean;
  /** Set while its unregister or move aside has no answer: until then the host may still carry it out. */
  settleBy?: number;
}

export const replacedVm: ResourceType<ReplacedVmResource> = {
  kind: 'replaced-vm',
  needsHost: true,
  parse: (f) => ({
    name: field(f, 'name', 'replaced-vm'),
    vmxPath: field(f, 'vmxPath', 'replaced-vm'),
    dir: field(f, 'dir', 'replaced-vm'),
    aside: typeof f.aside === 'string' ? f.aside : '',
    ...(f.completed === true ? { completed: true } : {}),
    ...settledBy(f, 'replaced-vm'),
  }),
  async release(r, env) {
    const esx = await hostFor(env, `putting ${r.name} back`);
    const asideThere = r.aside !== '' && (await esx.pathExists(r.aside));
    if (r.completed) {
      if (!asideThere) return 'absent';
      await esx.removeDirectory(r.aside, { timeoutMs: Math.max(1, env.deadline - Date.now()) });
      return 'released';
    }
    // Put back only once the host can no longer unregister or move it behind the release's back.
    stillSettling(r.settleBy, `${r.name} was being unregistered or moved aside without an answer, so the host may still do it`, 'puts it back');
    // Undo: the new VM's directory is gone by now (restore-dir was acquired later, so it is released first).
    if (asideThere && !(await esx.pathExists(r.dir))) await esx.movePath(r.aside, r.dir);
    if (!(await findRegistered(esx, r.vmxPath))) {
      await esx.registerVm(r.vmxPath, r.name);
      return 'released';
    }
    return asideThere ? 'released' : 'absent';
  },
};
