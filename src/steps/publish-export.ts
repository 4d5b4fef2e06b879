// Step publish: rename the complete export into place at -r; replacing an earlier backup is journaled so a crash can be finished, not lost.

import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { asideDirFor, commitPartialDirectory } from '../export/index.js';
import { fsyncPath } from '../export/fsync-path.js';
import { refuseMountedBackup } from '../workflow/backup-mounts.js';
import type { JobStep } from './step.js';

export const publish: JobStep = {
  name: 'publish',
  describe: (o, dir) => (o.preexistingMountpoint === 'delete' ? `move the export into place at ${dir}, replacing an earlier backup there only now` : `move the export into place at ${dir}`),
  acquires: ['replaced-dir'],
  errorCode: 'DESTINATION',
  hostCommands: [],
  writesDestination: true,
  async run(ctx) {
    const { job, dir } = ctx;
    const partial = job.exported!.partial;
    if (ctx.o.preexistingMountpoint === 'delete' && existsSync(dir)) {
      // Checked before the host was touched too; a mount-backup of it may have started while the disks were read.
      refuseMountedBackup(ctx.stateDir, dir, `--preexisting-mountpoint delete of ${dir}`);
      const aside = asideDirFor(dir, ctx.runId);
      // Its release finishes the replacement (or puts the earlier backup back): the live run and recovery alike.
      const replaced = ctx.acquire('replaced-dir', `earlier backup ${dir}, moved aside to ${aside} while replaced`, { destination: dir, aside, partial, runId: ctx.runId });
      await fsyncPath(partial);
      await rename(dir, aside);
      await rename(partial, dir);
      job.partialHandle!.forget();
      job.published = true;
      await fsyncPath(dirname(dir));
      try {
        await replaced.releaseNow({ timeoutMs: ctx.o.cleanupTimeoutMs });
      } catch (e) {
        ctx.log.warn({ err: (e as Error).message, aside }, 'the earlier backup could not be deleted yet; trying again during cleanup');
      }
      return;
    }
    await commitPartialDirectory(partial, dir);
    job.partialHandle!.forget();
    job.published = true;
  },
};
