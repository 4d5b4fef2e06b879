// vcbMounter -U DIR: releases exactly what the run at DIR recorded as held (its state file), then its unfinished siblings.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isRunClosed, listOpenRuns, type OpenRun } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { completeExport, discardPartialDirectory, STATE_FILE } from '../export/index.js';
import { needsHost, releaseResource, type ReleaseEnv } from '../resources/index.js';
import { recoverRun } from './recover.js';
import { refuseMountedBackup } from './backup-mounts.js';
import { unmountVolumes, type FileRunState, type HeldEntry } from './unmount-volumes.js';
import type { UnmountEnv, UnmountReport } from './unmount-types.js';

export type { UnmountEnv, UnmountReport } from './unmount-types.js';


const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Directories runs made beside dir: `<dir>.partial-<runid>` (unfinished exports) or `<dir>.old-<runid>` (an earlier backup being replaced). */
function siblings(dir: string, kind: 'partial' | 'old'): Array<{ path: string; runId: string }> {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const prefix = `${basename(dir)}.${kind}-`;
  return readdirSync(parent)
    .filter((n) => n.startsWith(prefix) && RUN_ID.test(n.slice(prefix.length)))
    .map((n) => ({ path: join(parent, n), runId: n.slice(prefix.length) }));
}

/** Unfinished export directories of runs that targeted dir: `<dir>.partial-<runid>`. */
export function partialSiblings(dir: string): string[] {
  return siblings(dir, 'partial').map((s) => s.path);
}

/** A replacement of dir that a run began and did not finish (recovery finishes or undoes it, never -U). */
function refuseInterruptedReplacement(dir: string, open: OpenRun[]): void {
  const asides = siblings(dir, 'old').map((s) => s.path);
  const journaled = open.filter((r) => r.outstanding.some((o) => o.kind === 'replaced-dir' && o.resource.destination === dir));
  if (asides.length === 0 && journaled.length === 0) return;
  const what = [...asides, ...journaled.map((r) => `run ${r.runId}`)].join(', ');
  throw new VcbError('CLEANUP', `-U ${dir}: a replacement of this backup by a newer one was interrupted (${what}); run \`vcbmounter cleanup -h HOST ...\` first: it keeps the newer backup if it is complete, else puts the earlier one back`);
}

/** The state file of a -t file or mount-backup run (its volumes are mounted in dir), or undefined for anything else. */
function fileRunState(dir: string): FileRunState | undefined {
  let state: Partial<FileRunState> & { type?: string; format?: string };
  try {
    state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as typeof state;
  } catch {
    return undefined;
  }
  if (state.format !== 'vcbmounter-state' || (state.type !== 'file' && state.type !== 'mount-backup') || typeof state.runId !== 'string' || !Array.isArray(state.held)) return undefined;
  return state as FileRunState;
}

/** The held list of a state file; version 1 files listed nothing, their export directory is all there is. */
function heldResources(dir: string, runId: string): HeldEntry[] {
  const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { version?: number; held?: HeldEntry[] };
  if (state.version === 1 || !Array.isArray(state.held)) return [{ kind: 'export-dir', description: `export directory ${dir}`, resource: { dir, runId } }];
  return state.held;
}


/** Runs on this proxy whose -r was dir and that still hold something, other than a -t file run's live disk server (its state file covers that). */
function runsTargeting(dir: string, stateDir: string): OpenRun[] {
  return listOpenRuns(stateDir).filter((r) => r.dir === dir && r.pidAlive !== null && !(r.handedOver && r.pidAlive));
}

/**
 * A run for dir that died (killed, or could not release everything) is finished here from its journal,
 * which needs the host for what it holds there. One still going is left alone: it may yet complete a
 * good backup (as its unfinished DIR.partial-* sibling is, below).
 */
async function finishRunsTargeting(dir: string, env: UnmountEnv): Promise<string[]> {
  const all = runsTargeting(dir, env.stateDir);
  for (const live of all.filter((r) => r.pidAlive)) {
    env.log.warn({ dir, run: live.runId, pid: live.pid }, 'left a run for this directory alone: it is still running');
  }
  const runs = all.filter((r) => r.pidAlive === false);
  const onHost = runs.flatMap((r) => r.outstanding.filter((o) => needsHost(o.kind)));
  if (onHost.length && !env.host) {
    const held = onHost.map((o) => o.description).join(', ');
    throw new VcbError('CLEANUP', `-U ${dir}: run ${runs.map((r) => r.runId).join(', ')} for this directory was interrupted and still holds ${held}; give -U the host's flags (-h ${runs[0]!.host} -u USER ...) so it can release them (same --state-dir)`);
  }
  const released: string[] = [];
  for (const run of runs) {
    const report = await recoverRun(run, { stateDir: env.stateDir, log: env.log, ...(env.host ? { host: env.host } : {}), ...(env.hostFlags ? { hostFlags: env.hostFlags } : {}), cleanupTimeoutMs: env.cleanupTimeoutMs });
    env.log.info({ dir, run: run.runId, released: report.released }, 'finished an interrupted run for this directory');
    released.push(...report.released);
  }
  return released;
}

export async function unmountDir(target: string, env: UnmountEnv): Promise<UnmountReport> {
  const dir = resolve(target);
  const removed: string[] = await finishRunsTargeting(dir, env);
  const open = listOpenRuns(env.stateDir);
  refuseInterruptedReplacement(dir, open);
  // One --cleanup-timeout for all of -U's own releases, as for a run's unwind.
  const releaseEnv: ReleaseEnv = {
    log: env.log,
    signal: AbortSignal.timeout(env.cleanupTimeoutMs),
    deadline: Date.now() + env.cleanupTimeoutMs,
    ...(env.host ? { host: env.host } : {}),
    ...(env.hostFlags ? { hostFlags: env.hostFlags } : {}),
  };
  const fileRun = existsSync(dir) ? fileRunState(dir) : undefined;
  if (fileRun) return unmountVolumes(dir, fileRun, env, releaseEnv);
  if (existsSync(dir)) {
    const catalog = completeExport(dir);
    if (!catalog) {
      throw new VcbError('USAGE', `-U ${dir}: this directory was not made by vcbmounter (no catalog and ${STATE_FILE} of one run in it); refusing to remove it`);
    }
    refuseMountedBackup(env.stateDir, dir, `-U ${dir}`);
    // The directory may have been moved since the backup: it is released where -U finds it. What the run
    // held on the host and its journal here says is released since (by cleanup, or a later run) is done.
    const released = isRunClosed(env.stateDir, catalog.runId);
    const held = heldResources(dir, catalog.runId)
      .filter((h) => !(released && needsHost(h.kind)))
      .map((h) => (h.kind === 'export-dir' ? { ...h, resource: { ...h.resource, dir } } : h));
    const onHost = held.filter((h) => needsHost(h.kind));
    if (onHost.length && !env.host) {
      throw new VcbError(
        'CLEANUP',
        `-U ${dir}: run ${catalog.runId} still holds ${onHost.map((h) => h.description).join(', ')} on the host; give -U the host's flags (-h ${catalog.host.name} -u USER ...) or run "vcbmounter cleanup" with them, then -U again (same --state-dir)`,
      );
    }
    // The run's own journal, if it is still open here, records the releases and is closed by them.
    const run = open.find((r) => r.runId === catalog.runId && r.pidAlive !== true);
    if (run && env.host) {
      const report = await recoverRun(run, { stateDir: env.stateDir, log: env.log, host: env.host, ...(env.hostFlags ? { hostFlags: env.hostFlags } : {}), cleanupTimeoutMs: env.cleanupTimeoutMs });
      removed.push(...report.released);
    }
    for (const h of [...held].reverse()) {
      const outcome = await releaseResource(h.kind, h.resource, releaseEnv);
      if (outcome === 'released') {
        removed.push(h.kind === 'export-dir' ? dir : h.description);
        env.log.debug({ released: h.description }, 'released');
      }
    }
  }
  for (const p of siblings(dir, 'partial')) {
    const owner = open.find((r) => r.runId === p.runId);
    if (owner && owner.pidAlive !== false) {
      env.log.warn({ dir: p.path, run: p.runId, pid: owner.pid }, 'left an unfinished export alone: its backup may still be running');
      continue;
    }
    await discardPartialDirectory(p.path);
    removed.push(p.path);
    env.log.info({ dir: p.path }, 'removed an unfinished export directory');
  }
  return { dir, removed, nothingToDo: removed.length === 0 };
}
