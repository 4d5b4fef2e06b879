// The fullvm job with --stream: the export goes into the agent's stdin as one tar; nothing is written on this proxy.

import { connect } from '../steps/connect.js';
import { resolve } from '../steps/resolve-vm.js';
import { lock } from '../steps/lock-vm.js';
import { recover } from '../steps/recover-earlier.js';
import { disks } from '../steps/plan-disks.js';
import { checkSnapshots } from '../steps/check-snapshots.js';
import { createSnapshot } from '../steps/create-snapshot.js';
import { readBlockMaps } from '../steps/read-block-maps.js';
import { streamToAgent } from '../steps/stream-to-agent.js';
import type { JobType } from '../steps/step.js';

export const fullvmStream: JobType = {
  name: 'fullvm',
  steps: [connect, resolve, lock, recover, disks, checkSnapshots, createSnapshot, readBlockMaps, streamToAgent],
};
