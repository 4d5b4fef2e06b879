// Step destination: check -r before touching the host: free of unknown contents, and a parent that can take the export.

import { existsSync } from 'node:fs';
import { VcbError } from '../errors.js';
import { completeExport } from '../export/index.js';
import type { JobStep } from './step.js';
import { checkDestinationParent } from '../workflow/destination.js';
import { refuseMountedBackup } from '../workflow/backup-mounts.js';

export const checkDestination: JobStep = {
  name: 'destination',
  describe: (_o, dir) => `check that ${dir} can be written (and, with --preexisting-mountpoint delete, that what is there is an earlier backup, not mounted by mount-backup)`,
  acquires: [],
  errorCode: 'DESTINATION',
  hostCommands: [],
  writesDestination: true,
  async run(ctx) {
    const { dir, o } = ctx;
    if (existsSync(dir) && o.preexistingMountpoint === 'fail') {
      const ours = completeExport(dir) !== undefined;
      throw new VcbError(
        'DESTINATION',
        ours
          ? `destination ${dir} already holds a backup; remove it (vcbmounter -U ${dir}), choose another -r, or pass --preexisting-mountpoint delete to replace it after a successful backup`
          : `destination ${dir} already exists and was not made by vcbmounter; choose another -r, or move it away yourself`,
      );
    }
    if (existsSync(dir) && o.preexistingMountpoint === 'delete' && !completeExport(dir)) {
      throw new VcbError('DESTINATION', `destination ${dir} exists and was not made by vcbmounter (no catalog and state file of one run in it); --preexisting-mountpoint delete only replaces earlier backups: move it away yourself or choose another -r`);
    }
    if (existsSync(dir) && o.preexistingMountpoint === 'delete') refuseMountedBackup(ctx.stateDir, dir, `--preexisting-mountpoint delete of ${dir}`);
    checkDestinationParent(dir);
  },
};
