// The -t file directory (DIR with letters/, digits/, names/ and the manifest) as a resource: released by removing what the run made, never through a mount.

import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { mountsUnder } from '../mount/mount-table.js';
import { LAYOUT_DIRS, MANIFEST_FILE } from '../mount/layout.js';
import { STATE_FILE } from '../export/index.js';
import { field, type ResourceType } from './types.js';

export interface MountDirResource {
  dir: string;
  runId: string;
  /** The run made it (else it was an empty directory the admin made, and stays). */
  created: boolean;
}

export const mountDir: ResourceType<MountDirResource> = {
  kind: 'mount-dir',
  needsHost: false,
  parse: (f) => ({ dir: field(f, 'dir', 'mount-dir'), runId: field(f, 'runId', 'mount-dir'), created: f.created !== false }),
  async release(r, env) {
    if (!existsSync(r.dir)) return 'absent';
    const mounted = mountsUnder(r.dir);
    if (mounted.length > 0) {
      throw new VcbError('CLEANUP', `${r.dir} still has ${mounted.map((m) => m.mountPoint).join(', ')} mounted: not removing anything there; run -U ${r.dir} again once the programs using it have stopped`);
    }
    // Only empty mount points are removed (rmdir, never recursive): a file someone put there is kept.
    for (const sub of LAYOUT_DIRS) {
      const path = join(r.dir, sub);
      if (!existsSync(path)) continue;
      for (const name of readdirSync(path)) {
        try {
          rmdirSync(join(path, name));
        } catch {
          // Not empty: kept, and named below.
        }
      }
      try {
        rmdirSync(path);
      } catch {
        // Kept, named below.
      }
    }
    rmSync(join(r.dir, MANIFEST_FILE), { force: true });
    // What a run killed while writing them leaves: the temporary files of the manifest and the state file.
    for (const name of readdirSync(r.dir)) if (name === `${MANIFEST_FILE}.tmp` || name.startsWith(`${STATE_FILE}.tmp-`)) rmSync(join(r.dir, name), { force: true });
    const others = readdirSync(r.dir).filter((n) => n !== STATE_FILE);
    if (others.length > 0) {
      env.log.warn({ dir: r.dir, kept: others }, 'kept what vcbmounter did not make');
      throw new VcbError('DESTINATION', `took the volumes down but kept ${r.dir}: it also holds ${others.map((n) => JSON.stringify(n)).join(', ')}, which vcbmounter did not make`);
    }
    rmSync(join(r.dir, STATE_FILE), { force: true });
    if (r.created) rmdirSync(r.dir);
    return 'released';
  },
};
