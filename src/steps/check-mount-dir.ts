// Step destination (-t file): DIR must be new or an empty directory, in a parent that can take it, before the host is touched.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { VcbError } from '../errors.js';
import { STATE_FILE } from '../export/index.js';
import { checkDestinationParent } from '../workflow/destination.js';
import type { JobStep } from './step.js';

/** DIR must be new or an empty directory, in a parent that can take it; `flag` names it in errors (-r, MOUNTPOINT). */
export function checkMountDirectory(dir: string, flag: string, command: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new VcbError('DESTINATION', `${dir} exists and is not a directory; choose another ${flag}`);
    const entries = readdirSync(dir);
    if (entries.includes(STATE_FILE)) {
      throw new VcbError('DESTINATION', `${dir} already holds the mounts or export of an earlier run; take it down first (vcbmounter -U ${dir}) or choose another ${flag}`);
    }
    if (entries.length > 0) throw new VcbError('DESTINATION', `${dir} exists and is not empty; ${command} mounts the volumes in a new or empty directory: choose another ${flag}`);
  }
  checkDestinationParent(dir);
}

export const checkMountDir: JobStep = {
  name: 'destination',
  describe: (_o, dir) => `check that ${dir} is new (or an empty directory) for the volumes' mount points`,
  acquires: [],
  errorCode: 'DESTINATION',
  hostCommands: [],
  writesDestination: true,
  async run(ctx) {
    checkMountDirectory(ctx.dir, '-r', '-t file');
  },
};
