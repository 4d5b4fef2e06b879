// Test helpers for exportVm's contract: it leaves `<destination>.partial-<runid>` for the caller to publish or discard.

import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { expect } from 'vitest';
import {
  CATALOG_FILE,
  commitPartialDirectory,
  discardPartialDirectory,
  exportVm,
  partialDirFor,
  STATE_FILE,
  type ExportResult,
  type ExportVmOptions,
} from '../../src/export/index.js';

/** Entries next to `dest` whose names start with `<dest>.` (partial and aside directories). */
export function siblings(dest: string): string[] {
  const base = basename(dest);
  return readdirSync(dirname(dest)).filter((name) => name.startsWith(`${base}.`));
}

/** Exports, then publishes the partial directory to a destination that does not exist (what the publish step does). */
export async function exportAndPublish(options: ExportVmOptions): Promise<ExportResult> {
  const result = await exportVm(options);
  expect(result.partial).toBe(partialDirFor(options.destination, options.runId));
  await commitPartialDirectory(result.partial, options.destination);
  return result;
}

/**
 * After a failed export: the partial directory is there (the caller's to remove) but holds nothing that looks
 * complete, and the caller's release (discardPartialDirectory) removes it, leaving no sibling behind.
 */
export async function expectUnfinishedPartialThenDiscard(dest: string, runId: string): Promise<void> {
  const partial = partialDirFor(dest, runId);
  expect(existsSync(partial)).toBe(true);
  const entries = readdirSync(partial);
  expect(entries).not.toContain(CATALOG_FILE);
  expect(entries).not.toContain(STATE_FILE);
  await discardPartialDirectory(partial);
  expect(existsSync(partial)).toBe(false);
  expect(siblings(dest)).toEqual([]);
}
