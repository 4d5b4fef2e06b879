// vcbMounter -U DIR: releases exactly what the run at DIR recorded as held (its state file), then its unfinished siblings.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { VcbError } from '../errors.js';
import { completeExport, STATE_FILE } from '../export/index.js';
import type { Logger } from '../log.js';
import { needsHost, releaseResource, type ReleaseEnv } from '../resources/index.js';
import { discardPartialDirectory } from '../export/index.js';

export interface UnmountReport {
  dir: string;
  removed: string[];
  nothingToDo: boolean;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Unfinished export directories of runs that targeted dir: `<dir>.partial-<runid>`. */
export function partialSiblings(dir: string): string[] {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const prefix = `${basename(dir)}.partial-`;
  return readdirSync(parent)
    .filter((n) => n.startsWith(prefix) && RUN_ID.test(n.slice(prefix.length)))
    .map((n) => join(parent, n));
}

interface HeldEntry {
  kind: string;
  description: string;
  resource: Record<string, unknown>;
}

/** The held list of a state file; version 1 files listed nothing, their export directory is all there is. */
function heldResources(dir: string, runId: string): HeldEntry[] {
  const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { version?: number; held?: HeldEntry[] };
  if (state.version === 1 || !Array.isArray(state.held)) return [{ kind: 'export-dir', description: `export directory ${dir}`, resource: { dir, runId } }];
  return state.held;
}

export interface UnmountEnv {
  log: Logger;
  /** Reaches the host, when -U was given -h: a snapshot the run still holds is then removed too. */
  host?: ReleaseEnv['host'];
  hostFlags?: string;
  cleanupTimeoutMs: number;
}

export async function unmountDir(target: string, env: UnmountEnv): Promise<UnmountReport> {
  const dir = resolve(target);
  const removed: string[] = [];
  if (existsSync(dir)) {
    const catalog = completeExport(dir);
    if (!catalog) {
      throw new VcbError('USAGE', `-U ${dir}: this directory was not made by vcbmounter (no catalog and ${STATE_FILE} of one run in it); refusing to remove it`);
    }
    const held = heldResources(dir, catalog.runId);
    const onHost = held.filter((h) => needsHost(h.kind));
    if (onHost.length && !env.host) {
      throw new VcbError(
        'CLEANUP',
        `-U ${dir}: run ${catalog.runId} still holds ${onHost.map((h) => h.description).join(', ')} on the host; give -U the host's flags (-h ${catalog.host.name} -u USER ...) or run "vcbmounter cleanup" with them, then -U again`,
      );
    }
    const deadline = Date.now() + env.cleanupTimeoutMs;
    for (const h of [...held].reverse()) {
      const outcome = await releaseResource(h.kind, h.resource, { log: env.log, signal: AbortSignal.timeout(env.cleanupTimeoutMs), deadline, ...(env.host ? { host: env.host } : {}), ...(env.hostFlags ? { hostFlags: env.hostFlags } : {}) });
      if (outcome === 'released') {
        removed.push(h.kind === 'export-dir' ? dir : h.description);
        env.log.info({ released: h.description }, 'released');
      }
    }
  }
  for (const p of partialSiblings(dir)) {
    await discardPartialDirectory(p);
    removed.push(p);
    env.log.info({ dir: p }, 'removed an unfinished export directory');
  }
  return { dir, removed, nothingToDo: removed.length === 0 };
}
