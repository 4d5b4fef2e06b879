// Step catalog: read and check the export's catalog (or --catalog's edited copy) and its block lists, before any contact.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { CATALOG_FILE, parseCatalog, type Catalog } from '../export/index.js';
import { blockHashOf } from '../export/block-digest.js';
import { digestOfBlocksFile } from '../export/block-list-file.js';
import { BLOCK, planRestore } from '../restore/plan.js';
import { extentRanges, listedBlocks } from '../restore/upload-disk.js';
import type { RestoreStep } from './restore-step.js';

export async function readRestoreCatalog(sourceDir: string, catalogFile?: string): Promise<Catalog> {
  const path = catalogFile ?? join(sourceDir, CATALOG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VcbError('USAGE', `${catalogFile ? '--catalog' : '-s'} ${catalogFile ?? sourceDir}: cannot read ${path} (${code ?? (e as Error).message}); -s takes a fullvm export directory made by vcbmounter`);
  }
  try {
    return parseCatalog(text);
  } catch (e) {
    const issue = (e as { issues?: Array<{ path: unknown[]; message: string }> }).issues?.[0];
    const where = issue ? `field ${issue.path.join('.') || '(top)'}: ${issue.message}` : (e as Error).message;
    throw new VcbError('USAGE', `${path} is not a vcbmounter catalog (${where})`);
  }
}

export const readCatalog: RestoreStep = {
  name: 'catalog',
  describe: (o) => `read the catalog of ${o.source}${o.catalogFile ? ` (redirected by ${o.catalogFile})` : ''}, check each disk's files and block list against it`,
  acquires: [],
  errorCode: 'USAGE',
  hostCommands: [],
  async run(ctx) {
    const { job, o } = ctx;
    const catalog = await readRestoreCatalog(job.sourceDir, o.catalogFile);
    if (catalog.disks.length === 0) throw new VcbError('USAGE', `${job.sourceDir}: the catalog lists no disk to restore`);
    // A plan now, with the catalog's own name: it checks every path the catalog gives before anything is contacted.
    const probe = planRestore(job.sourceDir, catalog, o, o.name ?? catalog.vm.name, 'create');
    const vmx = join(job.sourceDir, catalog.vm.vmxFile);
    await stat(vmx).catch(() => {
      throw new VcbError('USAGE', `${vmx} is missing: the export is incomplete`);
    });
    job.blocks = [];
    job.bytesTotal = 0;
    for (const [i, disk] of probe.disks.entries()) {
      const digest = await digestOfBlocksFile(disk.blocksFile, disk.capacity, blockHashOf(catalog.disks[i]!)).catch(() => undefined);
      if (digest !== catalog.disks[i]!.digest) {
        throw new VcbError('USAGE', `${disk.blocksFile} does not match the catalog's digest for ${disk.slot}: the export is damaged or not the catalog's (run a verify of ${job.sourceDir})`);
      }
      await extentRanges(disk);
      const offsets = await listedBlocks(disk);
      job.blocks.push(offsets);
      job.bytesTotal += offsets.reduce((n, off) => n + Math.min(BLOCK, disk.capacity - off), 0);
    }
    job.catalog = catalog;
  },
};
