// Step proxy (mount-backup): check that this proxy can mount guest volumes (root, FUSE, loop devices, nbdfuse) before anything is acquired.

import { assertProxyCanMount } from '../mount/proxy-support.js';
import type { MountBackupStep } from './mount-backup-step.js';

export const checkBackupProxy: MountBackupStep = {
  name: 'proxy',
  describe: () => 'check that this proxy can mount guest volumes read-only (root, /dev/fuse, loop devices, nbdfuse, losetup, mount)',
  acquires: [],
  errorCode: 'MOUNT',
  async run() {
    assertProxyCanMount('mount-backup');
  },
};
