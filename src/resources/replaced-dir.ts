// An earlier backup moved aside while its replacement is renamed in: released by finishing the replacement, or undoing it.

import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VcbError } from '../errors.js';
import { completeExport } from '../export/index.js';
import { fsyncPath } from '../export/fsync-path.js';
import { field, type ResourceType } from './types.js';

export interface ReplacedDirResource {
  /** The -r directory. */
  destination: string;
  /** Where the earlier backup waits: `<DIR>.old-<run>`. */
  aside: string;
  /** The new export: `<DIR>.partial-<run>`. */
  partial: string;
  runId: string;
}

/**
 * The new export is kept whenever it is complete: in place already (only the old one is left to delete),
 * or still in its partial directory (renamed in now). Otherwise the earlier backup goes back where it was.
 */
async function finishOrUndo(r: ReplacedDirResource): Promise<'released' | 'absent'> {
  if (!existsSync(r.aside)) return 'absent';
  if (!existsSync(r.destination) && completeExport(r.partial, r.runId)) {
    await rename(r.partial, r.destination);
  }
  if (completeExport(r.destination, r.runId)) {
    await fsyncPath(dirname(r.destination));
    await rm(r.aside, { recursive: true, force: true });
  } else if (!existsSync(r.destination)) {
    await rename(r.aside, r.destination);
  } else {
    throw new VcbError('CLEANUP', `${r.destination} is not the export of run ${r.runId}; the earlier backup stays at ${r.aside}: move it back yourself`);
  }
  await fsyncPath(dirname(r.destination));
  return 'released';
}

export const replacedDir: ResourceType<ReplacedDirResource> = {
  kind: 'replaced-dir',
  needsHost: false,
  parse: (f) => ({
    destination: field(f, 'destination', 'replaced-dir'),
    aside: field(f, 'aside', 'replaced-dir'),
    partial: field(f, 'partial', 'replaced-dir'),
    runId: field(f, 'runId', 'replaced-dir'),
  }),
  release: (r) => finishOrUndo(r),
};
