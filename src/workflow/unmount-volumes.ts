// vcbMounter -U DIR for a -t file run: unmounts every volume, detaches the loop devices, stops the disk server, removes the snapshot, then DIR.

import { isRunClosed, listOpenRuns, markRecovered } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { needsHost, releaseResource, type ReleaseEnv } from '../resources/index.js';
import type { UnmountEnv, UnmountReport } from './unmount-types.js';

export interface HeldEntry {
  kind: string;
  description: string;
  resource: Record<string, unknown>;
}

export interface FileRunState {
  runId: string;
  host: string;
  vm: string;
  held: HeldEntry[];
}

/**
 * Releases the state file's list from its end (mounts first, DIR last). A failure stops before the snapshot and
 * DIR are touched, so that the state file stays and -U can be run again once the cause is dealt with.
 */
export async function unmountVolumes(dir: string, state: FileRunState, env: UnmountEnv, releaseEnv: ReleaseEnv): Promise<UnmountReport> {
  const released = isRunClosed(env.stateDir, state.runId);
  const held = state.held.filter((h) => !(released && needsHost(h.kind))).map((h) => (h.kind === 'mount-dir' ? { ...h, resource: { ...h.resource, dir } } : h));
  const onHost = held.filter((h) => needsHost(h.kind));
  if (onHost.length && !env.host) {
    throw new VcbError(
      'CLEANUP',
      `-U ${dir}: run ${state.runId} also holds ${onHost.map((h) => h.description).join(', ')} on the host; give -U the host's flags (-h ${state.host} -u USER ...) so that it is removed too; nothing was unmounted`,
    );
  }
  const removed: string[] = [];
  const failures: string[] = [];
  for (const h of [...held].reverse()) {
    // The snapshot and DIR go only once everything on this proxy is down: -U can then be repeated.
    if (failures.length && (h.kind === 'snapshot' || h.kind === 'mount-dir')) continue;
    try {
      const outcome = await releaseResource(h.kind, h.resource, releaseEnv);
      if (outcome === 'released') removed.push(h.kind === 'mount-dir' ? dir : h.description);
    } catch (e) {
      // Everything else is released; DIR kept for files someone put there is the export's case (exit 7).
      if (h.kind === 'mount-dir' && e instanceof VcbError && e.code === 'DESTINATION' && failures.length === 0) throw e;
      failures.push(`${h.description}: ${(e as Error).message}`);
      env.log.warn({ what: h.description, err: (e as Error).message }, 'could not release');
    }
  }
  if (failures.length) {
    throw new VcbError('CLEANUP', `-U ${dir}: ${failures.join('; ')}; what is still there is listed in ${dir}; run -U again once the cause is dealt with`);
  }
  // Everything the run handed over is released: its journal here is done.
  if (listOpenRuns(env.stateDir).some((r) => r.runId === state.runId)) markRecovered(env.stateDir, state.runId);
  return { dir, removed, nothingToDo: removed.length === 0 };
}
