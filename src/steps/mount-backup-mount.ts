// Step mount (mount-backup): every guest volume of the backup's disks mounted read-only under MOUNTPOINT, as -t file does, with a manifest.

import { writeManifest } from '../mount/layout.js';
import { mountGuestVolumes } from './mount-volumes.js';
import type { MountBackupStep } from './mount-backup-step.js';

export const mountBackupVolumes: MountBackupStep = {
  name: 'mount',
  describe: (o) => `find the guest volumes (MBR, GPT; NTFS, FAT, ext2/3/4) and mount each read-only under ${o.mountPoint}/digits, letters and names, with a manifest`,
  acquires: ['mount-dir', 'loop-device', 'volume-mount'],
  errorCode: 'MOUNT',
  async run(ctx) {
    const { job } = ctx;
    const catalog = job.catalog!;
    const records = await mountGuestVolumes(ctx, {
      disks: catalog.disks.map((d) => ({ device: d.slot, capacity: d.capacity })),
      diskFiles: job.diskFiles!,
      serverLogFile: job.server!.logFile,
      serverReads: `the disks of ${job.backup}`,
      vm: catalog.vm.name,
      warnings: job.warnings,
    });
    job.volumes = records;
    writeManifest(ctx.dir, {
      format: 'vcbmounter-volumes',
      version: 1,
      runId: ctx.runId,
      host: catalog.host.name,
      vm: catalog.vm.name,
      snapshot: { name: catalog.snapshot.name, quiesced: catalog.snapshot.quiesced },
      mode: 'backup',
      backup: job.backup,
      createdAt: new Date().toISOString(),
      volumes: records,
      warnings: job.warnings,
    });
  },
};
