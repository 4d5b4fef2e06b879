// Step backup (mount-backup): DIR must be a fullvm export made by vcbmounter: its catalog validates and each disk's descriptor is there.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { CATALOG_FILE, parseCatalog } from '../export/index.js';
import type { MountBackupStep } from './mount-backup-step.js';

const WHAT_IS_RIGHT = 'mount-backup takes the directory of a backup made with -t fullvm (it holds a catalog)';

export const readBackup: MountBackupStep = {
  name: 'backup',
  describe: (o) => `read the catalog of ${o.backup} (a fullvm backup) and find each disk's descriptor and extents`,
  acquires: [],
  errorCode: 'USAGE',
  async run(ctx) {
    const { job, o } = ctx;
    const info = await stat(job.backup).catch((e: NodeJS.ErrnoException) => {
      throw new VcbError('USAGE', `mount-backup ${o.backup}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}; ${WHAT_IS_RIGHT}`);
    });
    if (!info.isDirectory()) throw new VcbError('USAGE', `mount-backup ${o.backup}: not a directory; ${WHAT_IS_RIGHT}`);
    const path = join(job.backup, CATALOG_FILE);
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new VcbError('USAGE', `mount-backup ${o.backup}: not a fullvm backup (${e.code === 'ENOENT' ? `no ${CATALOG_FILE} in it` : `cannot read ${path}: ${e.message}`}); ${WHAT_IS_RIGHT}`);
    });
    let catalog;
    try {
      catalog = parseCatalog(text);
    } catch (e) {
      const issue = (e as { issues?: Array<{ path: unknown[]; message: string }> }).issues?.[0];
      const where = issue ? `field ${issue.path.join('.') || '(top)'}: ${issue.message}` : (e as Error).message;
      throw new VcbError('USAGE', `mount-backup ${o.backup}: ${path} is not a vcbmounter catalog (${where}); ${WHAT_IS_RIGHT}`);
    }
    if (catalog.disks.length === 0) throw new VcbError('USAGE', `mount-backup ${o.backup}: the catalog lists no disk (every disk of ${catalog.vm.name} was skipped)`);
    job.descriptors = [];
    for (const d of catalog.disks) {
      const descriptor = join(job.backup, d.descriptorFile);
      for (const f of [descriptor, ...d.extentFiles.map((e) => join(job.backup, e))]) {
        await stat(f).catch(() => {
          throw new VcbError('USAGE', `mount-backup ${o.backup}: ${f} is missing (disk ${d.slot}): the backup is incomplete or damaged`);
        });
      }
      job.descriptors.push(descriptor);
    }
    job.catalog = catalog;
  },
};
