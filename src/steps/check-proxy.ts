// Step proxy: check that this proxy can mount guest volumes (root, FUSE, loop devices, nbdfuse) before the host is touched.

import { assertProxyCanMount } from '../mount/proxy-support.js';
import type { JobStep } from './step.js';

export const checkProxy: JobStep = {
  name: 'proxy',
  describe: () => 'check that this proxy can mount guest volumes read-only (root, /dev/fuse, loop devices, nbdfuse, losetup, mount)',
  acquires: [],
  errorCode: 'MOUNT',
  hostCommands: [],
  writesDestination: false,
  async run() {
    assertProxyCanMount();
  },
};
