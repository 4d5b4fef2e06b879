// An unfinished export directory (`DIR.partial-<run>`) as a resource: released by deleting it.

import { existsSync } from 'node:fs';
import { discardPartialDirectory } from '../export/index.js';
import { field, type ResourceType } from './types.js';

export interface PartialDirResource {
  partialDir: string;
}

export const partialDir: ResourceType<PartialDirResource> = {
  kind: 'partial-dir',
  needsHost: false,
  parse: (f) => ({ partialDir: field(f, 'partialDir', 'partial-dir') }),
  async release(r) {
    if (!existsSync(r.partialDir)) return 'absent';
    await discardPartialDirectory(r.partialDir);
    return 'released';
  },
};
