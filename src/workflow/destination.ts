// Checks, before any snapshot is taken, that the export directory given with -r could be created.

import { accessSync, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { VcbError } from '../errors.js';

/** Throws DESTINATION when the nearest existing ancestor of dir is not a directory this process can write into. */
export function checkDestinationParent(dir: string): void {
  let ancestor = dirname(dir);
  for (;;) {
    try {
      if (!statSync(ancestor).isDirectory()) {
        throw new VcbError('DESTINATION', `cannot create ${dir}: ${ancestor} is not a directory; choose another -r`);
      }
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e instanceof VcbError ? e : new VcbError('DESTINATION', `cannot create ${dir}: ${(e as Error).message}`, {}, { cause: e });
      const up = dirname(ancestor);
      if (up === ancestor) break;
      ancestor = up;
    }
  }
  try {
    accessSync(ancestor, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new VcbError('DESTINATION', `cannot create ${dir}: ${ancestor} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose another -r`, {}, { cause: e });
  }
}
