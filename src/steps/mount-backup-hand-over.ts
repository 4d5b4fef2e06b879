// Step hand-over (mount-backup): the volumes stay mounted after this command; MOUNTPOINT's state file lists what -U releases, the journal keeps the backup marked as mounted.

import type { MountBackupStep } from './mount-backup-step.js';
import { handOverMounts } from './hand-over.js';

export const handOverBackup: MountBackupStep = {
  name: 'hand-over',
  describe: (o) => `leave the volumes mounted: record in ${o.mountPoint} what \`vcbmounter -U ${o.mountPoint}\` releases (the mounts and the disk server)`,
  acquires: [],
  errorCode: 'MOUNT',
  async run(ctx) {
    const { job } = ctx;
    const catalog = job.catalog!;
    const handed = await handOverMounts(ctx, job.server!, { host: catalog.host.name, vm: catalog.vm.name, type: 'mount-backup', backup: job.backup });
    ctx.log.info({ dir: ctx.dir, backup: job.backup, held: handed, server: job.server!.pid }, 'backup mounted; take it down with -U');
  },
};
