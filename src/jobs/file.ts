// The file job (-t file): every guest volume of a snapshot of the running VM, mounted read-only on this proxy until -U.

import { checkProxy } from '../steps/check-proxy.js';
import { connect } from '../steps/connect.js';
import { resolve } from '../steps/resolve-vm.js';
import { lock } from '../steps/lock-vm.js';
import { recover } from '../steps/recover-earlier.js';
import { checkMountDir } from '../steps/check-mount-dir.js';
import { disks } from '../steps/plan-disks.js';
import { checkSnapshots } from '../steps/check-snapshots.js';
import { createSnapshot } from '../steps/create-snapshot.js';
import { readBlockMaps } from '../steps/read-block-maps.js';
import { serveDisks } from '../steps/serve-disks.js';
import { mountVolumes } from '../steps/mount-volumes.js';
import { handOver } from '../steps/hand-over.js';
import type { JobType } from '../steps/step.js';

export const file: JobType = {
  name: 'file',
  steps: [checkProxy, connect, resolve, lock, recover, checkMountDir, disks, checkSnapshots, createSnapshot, readBlockMaps, serveDisks, mountVolumes, handOver],
};
