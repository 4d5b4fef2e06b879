// The directory a restore made on a datastore, with everything uploaded into it: released by removing it.

import { field, type ResourceType } from './types.js';
import { hostFor, settledBy, stillSettling } from './restore-host.js';

export interface RestoreDirResource {
  /** `/vmfs/volumes/<datastore>/<folder>`. */
  dir: string;
  /** Set once mkdir succeeded: a directory that existed before (mkdir refused) is someone else's and never removed. */
  created?: boolean;
  /**
   * Set while mkdir has no answer (epoch ms until which the host may still make the directory). A directory
   * there then is this run's: the target step saw none moments before.
   */
  settleBy?: number;
}

export const restoreDir: ResourceType<RestoreDirResource> = {
  kind: 'restore-dir',
  needsHost: true,
  parse: (f) => ({ dir: field(f, 'dir', 'restore-dir'), ...(f.created === true ? { created: true } : {}), ...settledBy(f, 'restore-dir') }),
  async release(r, env) {
    if (!r.created && !r.settleBy) return 'absent';
    const esx = await hostFor(env, `removing ${r.dir}`);
    if (!(await esx.pathExists(r.dir))) {
      stillSettling(r.settleBy, `mkdir ${r.dir} got no answer, so the host may still make it`, 'removes it if it appears');
      return 'absent';
    }
    await esx.removeDirectory(r.dir, { timeoutMs: Math.max(1, env.deadline - Date.now()) });
    return 'released';
  },
};
