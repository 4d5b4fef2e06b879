// One run per job file at a time: an overlapping cron run is refused (its own exit code); a lock whose process died is taken over.

import { hostname } from 'node:os';
import { acquireVmLock, lockPath, readVmLock, type VmLock } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';

const LOCK_HOST = 'job-file';

/** The engine's lock file (O_EXCL, stale takeover by pid), keyed by the job file's absolute path. */
export function lockJobFile(stateDir: string, path: string, runId: string, log: Logger): VmLock {
  try {
    return acquireVmLock({ stateDir, host: LOCK_HOST, vm: path, runId, argv: ['vcbmounter', 'run', path], onWarning: (m) => log.warn(m) });
  } catch (e) {
    if (!(e instanceof VcbError) || e.code !== 'LOCKED') throw e;
    const holder = readVmLock(stateDir, LOCK_HOST, path);
    const who = holder ? ` by pid ${holder.pid}${holder.hostname === hostname() ? '' : ` on ${holder.hostname}`} since ${holder.startedAt}` : '';
    throw new VcbError(
      'LOCKED',
      `job ${path} is already running${who}; this run does nothing. A lock left by a run that died is taken over by itself; one written on another machine (${lockPath(stateDir, LOCK_HOST, path)}) must be removed by hand once that run is gone`,
    );
  }
}
