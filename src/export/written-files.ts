// Which files in a directory a finished export of one run wrote: the test for "made by vcbmounter" and the list -U removes.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOG_FILE, parseCatalog, type Catalog } from './catalog.js';
import { STATE_FILE } from './state-file.js';

/** The export's catalog when `dir` holds a catalog and a state file of this tool that name the same run (and `runId`, when given). */
export function completeExport(dir: string, runId?: string): Catalog | undefined {
  let catalog: Catalog;
  let state: { format?: unknown; runId?: unknown };
  try {
    catalog = parseCatalog(readFileSync(join(dir, CATALOG_FILE), 'utf8'));
    state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as typeof state;
  } catch {
    return undefined;
  }
  if (state.format !== 'vcbmounter-state' || state.runId !== catalog.runId) return undefined;
  if (runId !== undefined && catalog.runId !== runId) return undefined;
  return catalog;
}

/** Every file name the catalog's run wrote into the directory (disks, extents, block lists, VM files, catalog, state). */
export function exportFileNames(catalog: Catalog): string[] {
  const names = new Set<string>([CATALOG_FILE, STATE_FILE, catalog.vm.vmxFile, ...catalog.files]);
  for (const d of catalog.disks) {
    names.add(d.descriptorFile);
    names.add(d.blocksFile);
    for (const e of d.extentFiles) names.add(e);
  }
  return [...names];
}
