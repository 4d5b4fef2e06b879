// An export directory that appears complete or not at all: build in `<DIR>.partial-<runid>`, then rename into place.

import { mkdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { VcbError } from '../errors.js';
import { fsyncPath } from './fsync-path.js';

export type Preexisting = 'fail' | 'delete';

export const INCOMPLETE_MARKER = 'INCOMPLETE';

export function partialDirFor(destination: string, runId: string): string {
  return `${resolve(destination)}.partial-${runId}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

/**
 * Checks the destination and free space, then creates the partial directory. Throws DESTINATION when
 * the destination exists (unless preexisting is 'delete'), when free space is below neededBytes, or
 * when the partial directory cannot be created. Touches nothing before those checks pass.
 */
export async function startPartialDirectory(options: {
  destination: string;
  runId: string;
  preexisting: Preexisting;
  neededBytes: number;
}): Promise<string> {
  const destination = resolve(options.destination);
  if (options.preexisting !== 'delete' && (await exists(destination))) {
    throw new VcbError('DESTINATION', `destination ${destination} already exists; choose another or allow replacing it`);
  }
  const parent = dirname(destination);
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw new VcbError('DESTINATION', `cannot create ${parent}: ${(error as Error).message}`, {}, { cause: error });
  }
  const space = await statfs(parent);
  const free = space.bavail * space.bsize;
  if (free < options.neededBytes) {
    throw new VcbError(
      'DESTINATION',
      `not enough space in ${parent}: the export needs ${options.neededBytes} bytes, ${free} are free`,
    );
  }
  const partial = partialDirFor(destination, options.runId);
  try {
    await mkdir(partial);
  } catch (error) {
    throw new VcbError('DESTINATION', `cannot create ${partial}: ${(error as Error).message}`, {}, { cause: error });
  }
  return partial;
}

/**
 * Moves a complete partial directory to a destination that does not exist (fsyncing it and the parent).
 * Replacing an existing destination is the publish step's job (see resources/replaced-dir.ts): it must be
 * journaled, so that a crash between its renames can be finished by recovery.
 */
export async function commitPartialDirectory(partial: string, destination: string): Promise<void> {
  const target = resolve(destination);
  await fsyncPath(partial);
  if (await exists(target)) throw new VcbError('DESTINATION', `destination ${target} appeared during the export`);
  try {
    await rename(partial, target);
  } catch (error) {
    throw new VcbError('DESTINATION', `cannot move ${partial} to ${target}: ${(error as Error).message}`, {}, { cause: error });
  }
  await fsyncPath(dirname(target));
}

/** Where an existing destination waits while its replacement is renamed in: `<DIR>.old-<runid>`. */
export function asideDirFor(destination: string, runId: string): string {
  return `${resolve(destination)}.old-${runId}`;
}

/**
 * Removes a partial directory. If that fails, leaves an INCOMPLETE marker in it (so that nothing reads
 * it as a backup) and throws: the directory is still there.
 */
export async function discardPartialDirectory(partial: string): Promise<void> {
  try {
    await rm(partial, { recursive: true, force: true });
  } catch (error) {
    await writeFile(`${partial}/${INCOMPLETE_MARKER}`, 'this export did not complete; delete this directory\n').catch(() => {});
    throw new VcbError('CLEANUP', `cannot remove the unfinished export ${partial}: ${(error as Error).message}`, {}, { cause: error });
  }
}
