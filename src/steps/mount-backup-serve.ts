// Step serve (mount-backup): start the disk server on the export's own files (read-only, no host) and present each disk as a file with nbdfuse.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ServeConfig } from '../serve/serve-config.js';
import { levelNumber, presentDisks, serverRunDir, socketPathOf } from './serve-disks.js';
import type { MountBackupStep } from './mount-backup-step.js';

export const serveBackup: MountBackupStep = {
  name: 'serve',
  describe: (o) => `serve each disk of ${o.backup} read-only to this proxy from its extent files and present it as a file with nbdfuse`,
  acquires: ['disk-server', 'fuse-disk'],
  errorCode: 'MOUNT',
  async run(ctx) {
    const { job } = ctx;
    const disks = job.catalog!.disks;
    const runDir = serverRunDir(ctx, disks.length, '--state-dir');
    const server = ctx.acquire('disk-server', `disk server of run ${ctx.runId}`, { runDir });
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const config: ServeConfig = {
      source: 'export',
      logFile: join(runDir, 'server.log'),
      logLevel: levelNumber(ctx.log.level),
      disks: disks.map((d, i) => ({ name: d.slot, socketPath: socketPathOf(runDir, i), descriptorPath: job.descriptors[i]!, capacity: d.capacity })),
    };
    const presented = await presentDisks(ctx, server, runDir, config);
    job.server = presented.server;
    job.diskFiles = presented.diskFiles;
  },
};
