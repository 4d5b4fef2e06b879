// The directory a restore made on a datastore, with everything uploaded into it: released by removing it.

import { field, type ResourceType } from './types.js';
import { hostFor } from './restore-host.js';

export interface RestoreDirResource {
  /** `/vmfs/volumes/<datastore>/<folder>`. */
  dir: string;
  /** Set once mkdir succeeded: a directory that existed before (mkdir refused) is someone else's and never removed. */
  created?: boolean;
}

export const restoreDir: ResourceType<RestoreDirResource> = {
  kind: 'restore-dir',
  needsHost: true,
  parse: (f) => ({ dir: field(f, 'dir', 'restore-dir'), ...(f.created === true ? { created: true } : {}) }),
  async release(r, env) {
    if (!r.created) return 'absent';
    const esx = await hostFor(env, `removing ${r.dir}`);
    if (!(await esx.pathExists(r.dir))) return 'absent';
    await esx.removeDirectory(r.dir, { timeoutMs: Math.max(1, env.deadline - Date.now()) });
    return 'released';
  },
};
