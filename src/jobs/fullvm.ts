// The fullvm job: an image of every disk and the VM's files, taken from a snapshot of the running VM.

import { connect } from '../steps/connect.js';
import { resolve } from '../steps/resolve-vm.js';
import { lock } from '../steps/lock-vm.js';
import { recover } from '../steps/recover-earlier.js';
import { checkDestination } from '../steps/check-destination.js';
import { disks } from '../steps/plan-disks.js';
import { checkSnapshots } from '../steps/check-snapshots.js';
import { createSnapshot } from '../steps/create-snapshot.js';
import { readBlockMaps } from '../steps/read-block-maps.js';
import { exportDisks } from '../steps/export-disks.js';
import { publish } from '../steps/publish-export.js';
import type { JobType } from '../steps/step.js';

export const fullvm: JobType = {
  name: 'fullvm',
  steps: [connect, resolve, lock, recover, checkDestination, disks, checkSnapshots, createSnapshot, readBlockMaps, exportDisks, publish],
};
