// The small JSON state file a later `-U` reads (its content is the caller's): written atomically, read back.

import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncPath } from './fsync-path.js';

export const STATE_FILE = '.vcbmounter-state.json';

/** Writes `<dir>/.vcbmounter-state.json` via a temporary file, fsync and rename; replaces an older one. */
export async function writeStateFile(dir: string, state: unknown): Promise<string> {
  const path = join(dir, STATE_FILE);
  const temporary = `${path}.tmp-${process.pid}`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(state, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await fsyncPath(dir);
  return path;
}

/** The parsed state, or undefined when the directory has none. */
export async function readStateFile(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as unknown;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
