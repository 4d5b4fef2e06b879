// A finished export directory as a resource: kept by the run, released by -U, which removes exactly the files the run wrote.

import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { CATALOG_FILE, completeExport, exportFileNames, STATE_FILE, VERIFIED_FILE } from '../export/index.js';
import { field, type ResourceType } from './types.js';

export interface ExportDirResource {
  dir: string;
  runId: string;
}

export const exportDir: ResourceType<ExportDirResource> = {
  kind: 'export-dir',
  needsHost: false,
  parse: (f) => ({ dir: field(f, 'dir', 'export-dir'), runId: field(f, 'runId', 'export-dir') }),
  async release(r, env) {
    if (!existsSync(r.dir)) return 'absent';
    const catalog = completeExport(r.dir, r.runId);
    if (!catalog) {
      throw new VcbError('USAGE', `${r.dir} does not hold the catalog and state file of run ${r.runId}; refusing to remove it`);
    }
    // The catalog and the state file go last: while anything else is left, the directory still says whose it is.
    // The verification record (written by a job file's verify) is vcbmounter's too, and goes with the disks.
    const last = [CATALOG_FILE, STATE_FILE];
    const names = [...exportFileNames(catalog), VERIFIED_FILE].filter((n) => !last.includes(n));
    for (const name of [...names, ...last]) rmSync(join(r.dir, name), { force: true });
    const others = readdirSync(r.dir);
    if (others.length > 0) {
      env.log.warn({ dir: r.dir, kept: others }, 'kept files vcbmounter did not write');
      throw new VcbError('DESTINATION', `removed the backup's files from ${r.dir} but kept the directory: it also holds ${others.map((n) => JSON.stringify(n)).join(', ')}, which vcbmounter did not write`);
    }
    rmdirSync(r.dir);
    return 'released';
  },
};
