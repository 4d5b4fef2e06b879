// Step lock (mount-backup): one mount of a backup at a time: this proxy's lock on the backup, and no live mount of it recorded; the journal opens with it.

import { acquireVmLock } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { mountsOfBackup } from '../workflow/backup-mounts.js';
import type { MountBackupStep } from './mount-backup-step.js';

/** The lock's "host": a backup directory is locked under it, apart from every real host's VMs. */
export const BACKUP_LOCK_HOST = 'mount-backup';

export const lockBackup: MountBackupStep = {
  name: 'lock',
  describe: (o) => `take this proxy's lock on ${o.backup}, open the run journal (it records the backup as mounted), and refuse if it is mounted already`,
  acquires: ['vm-lock'],
  errorCode: 'LOCKED',
  async run(ctx) {
    const { job } = ctx;
    // Held while this command runs: two mount-backups of one backup never both pass the check below.
    ctx.acquire('vm-lock', `lock on backup ${job.backup}`, { stateDir: ctx.stateDir, host: BACKUP_LOCK_HOST, vm: job.backup, runId: ctx.runId });
    acquireVmLock({
      stateDir: ctx.stateDir,
      host: BACKUP_LOCK_HOST,
      vm: job.backup,
      runId: ctx.runId,
      argv: ['mount-backup', job.backup, ctx.dir],
      onWarning: (m) => ctx.log.warn(m),
    });
    const mounted = mountsOfBackup(ctx.stateDir, job.backup, ctx.runId);
    if (mounted.length > 0) {
      const m = mounted[0]!;
      throw new VcbError('LOCKED', `${job.backup} is already mounted at ${m.mountPoint} (run ${m.runId}, pid ${m.pid}); use that mount, or take it down first with vcbmounter -U ${m.mountPoint}`);
    }
  },
};
