// The process serving the snapshot disks (NBD on Unix sockets) as a resource: released by stopping it, only if it is still that process.

import { rmSync } from 'node:fs';
import { isProcessAlive } from '../engine/index.js';
import { mountsUnder } from '../mount/mount-table.js';
import { field, type ResourceType } from './types.js';

export interface DiskServerResource {
  /** Set once the process started (journaled by an update). */
  pid?: number;
  /** Epoch ms before which it started: a pid reused by another process since is never signalled. */
  startedBefore?: number;
  /** Its working directory (sockets, fetched deltas, its log), removed with it. */
  runDir: string;
}

const STOP_WAIT_MS = 5_000;

export const diskServer: ResourceType<DiskServerResource> = {
  kind: 'disk-server',
  needsHost: false,
  parse: (f) => ({
    ...(typeof f.pid === 'number' ? { pid: f.pid } : {}),
    ...(typeof f.startedBefore === 'number' ? { startedBefore: f.startedBefore } : {}),
    runDir: field(f, 'runDir', 'disk-server'),
  }),
  async release(r, env) {
    let outcome: 'released' | 'absent' = 'absent';
    if (r.pid !== undefined && isProcessAlive(r.pid, r.startedBefore)) {
      process.kill(r.pid, 'SIGTERM');
      const until = Math.min(Date.now() + STOP_WAIT_MS, env.deadline);
      while (isProcessAlive(r.pid, r.startedBefore) && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
      if (isProcessAlive(r.pid, r.startedBefore)) process.kill(r.pid, 'SIGKILL');
      outcome = 'released';
    }
    const still = mountsUnder(r.runDir);
    if (still.length > 0) throw new Error(`${r.runDir} still has ${still.map((m) => m.mountPoint).join(', ')} mounted; not removing it`);
    // What it kept there (the users' snapshot deltas it read) is a copy of guest data: it goes too.
    rmSync(r.runDir, { recursive: true, force: true });
    return outcome;
  },
};
