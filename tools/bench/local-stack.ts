// Row 6's ceiling: the -t file stack on this proxy without the host (the disk from memory, the product's NBD server, nbdfuse, a loop device, ext4), read by tar.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { serveNbd, type BlockSource } from '../../src/nbd/index.js';
import { DISK_FILE, startFuseDisk, stopFuseDisk } from '../../src/mount/fuse-disk.js';
import { attachLoop, detachLoop } from '../../src/mount/loop-device.js';
import { mountPlan, mountVolume, unmountVolume } from '../../src/mount/volume-mount.js';
import type { RandomAccessFile } from '../../src/formats/random-access.js';
import { runChild } from './measure.js';

export interface LocalStackRun {
  /** tar of every file through the stack: seconds, and what tar wrote. */
  seconds: number;
  tarBytes: number;
}

/**
 * Serves `disk` (read whole into memory first) the way the disk server does, and reads the volume at
 * [volumeStart, +volumeSize) through nbdfuse, a read-only loop device and an ext4 mount with tar of every file,
 * cold (a new mount, nothing cached). What no reader of the host can beat through this stack on this machine.
 * The bench's own process serves the export, so the reads run in child processes only.
 */
export async function localStackRun(disk: RandomAccessFile, volumeStart: number, volumeSize: number, work: string): Promise<LocalStackRun> {
  const bytes = Buffer.alloc(disk.size());
  disk.read(bytes, 0);
  // A new buffer per request, as the disk view hands out.
  const source: BlockSource = { size: bytes.length, readAt: async (offset, length) => Buffer.from(bytes.subarray(offset, offset + length)) };
  const dir = join(work, `local-stack-${process.pid}`);
  const fuseDir = join(dir, 'fuse');
  const volumeDir = join(dir, 'volume');
  mkdirSync(volumeDir, { recursive: true });
  const server = await serveNbd({ socketPath: join(dir, 'disk.sock'), exports: source });
  let fuse = false;
  let loop: string | undefined;
  let mounted = false;
  try {
    await startFuseDisk(fuseDir, join(dir, 'disk.sock'));
    fuse = true;
    loop = await attachLoop(join(fuseDir, DISK_FILE), volumeStart, volumeSize);
    const plan = mountPlan('ext4', loop, volumeDir);
    if ('skip' in plan) throw new Error(`cannot mount the bench's ext4 volume: ${plan.skip}`);
    await mountVolume(plan);
    mounted = true;
    const tar = await runChild({ command: 'bash', args: ['-c', 'set -o pipefail; tar -cf - -C "$1" . | wc -c', 'bash', volumeDir] });
    return { seconds: tar.seconds, tarBytes: Number(tar.stdout.trim()) };
  } finally {
    if (mounted) await unmountVolume(volumeDir).catch(() => {});
    if (loop) await detachLoop(loop, join(fuseDir, DISK_FILE)).catch(() => {});
    if (fuse) await stopFuseDisk(fuseDir).catch(() => {});
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
