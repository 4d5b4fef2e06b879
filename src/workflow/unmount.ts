// vcbMounter -U DIR: releases what the run at DIR still holds and removes DIR; safe to repeat and after a failed run.

import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';

export const STATE_FILE = '.vcbmounter-state.json';
export const CATALOG_FILE = 'catalog';

export interface UnmountReport {
  dir: string;
  removed: string[];
  nothingToDo: boolean;
}

/** Partial (unfinished) export directories of runs that targeted dir: `<dir>.partial-<runid>`. */
export function partialSiblings(dir: string): string[] {
  const parent = dirname(dir);
  if (!existsSync(parent)) return [];
  const prefix = `${basename(dir)}.partial-`;
  return readdirSync(parent)
    .filter((n) => n.startsWith(prefix))
    .map((n) => join(parent, n));
}

/** Whether dir holds what a vcbmounter run leaves (its state file or catalog): the only directories it deletes. */
export function madeByVcbmounter(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE)) || existsSync(join(dir, CATALOG_FILE));
}

export function unmountDir(target: string, log: Logger): UnmountReport {
  const dir = resolve(target);
  const removed: string[] = [];
  for (const p of partialSiblings(dir)) {
    rmSync(p, { recursive: true, force: true });
    removed.push(p);
    log.info({ dir: p }, 'removed an unfinished export directory');
  }
  if (existsSync(dir)) {
    if (!madeByVcbmounter(dir)) {
      throw new VcbError('USAGE', `-U ${dir}: this directory was not made by vcbmounter (no ${STATE_FILE} or ${CATALOG_FILE} in it); refusing to remove it`);
    }
    const state = existsSync(join(dir, STATE_FILE)) ? (JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as { held?: unknown[] }) : {};
    if (Array.isArray(state.held) && state.held.length > 0) {
      throw new VcbError('CLEANUP', `-U ${dir}: the run still holds ${state.held.length} resources on the host; run "vcbmounter cleanup" with the host's credentials`);
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
    log.info({ dir }, 'removed');
  }
  return { dir, removed, nothingToDo: removed.length === 0 };
}
