// A snapshot disk presented as a file by nbdfuse, as a resource: released by unmounting it (nbdfuse then exits).

import { rmdirSync } from 'node:fs';
import { stopFuseDisk } from '../mount/fuse-disk.js';
import { field, type ResourceType } from './types.js';

export interface FuseDiskResource {
  mountPoint: string;
}

export const fuseDisk: ResourceType<FuseDiskResource> = {
  kind: 'fuse-disk',
  needsHost: false,
  parse: (f) => ({ mountPoint: field(f, 'mountPoint', 'fuse-disk') }),
  async release(r) {
    const outcome = await stopFuseDisk(r.mountPoint);
    try {
      rmdirSync(r.mountPoint);
    } catch {
      // Already gone, or (after a lazy unmount) still busy: the run directory's release says so.
    }
    return outcome;
  },
};
