// Step destination (mount-backup): MOUNTPOINT must be new or an empty directory, as -t file's DIR.

import { checkMountDirectory } from './check-mount-dir.js';
import type { MountBackupStep } from './mount-backup-step.js';

export const checkMountPoint: MountBackupStep = {
  name: 'destination',
  describe: (o) => `check that ${o.mountPoint} is new (or an empty directory) for the volumes' mount points`,
  acquires: [],
  errorCode: 'DESTINATION',
  async run(ctx) {
    checkMountDirectory(ctx.dir, 'MOUNTPOINT', 'mount-backup');
  },
};
