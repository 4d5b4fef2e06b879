// A snapshot disk as a read-only file on this proxy: nbdfuse connects to our NBD socket and presents the export as MOUNTPOINT/disk.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { VcbError } from '../errors.js';
import { tool } from './proxy-support.js';
import { isMountPoint } from './mount-table.js';

export const DISK_FILE = 'disk';

export interface FuseDisk {
  mountPoint: string;
  /** The file the kernel reads: mountPoint/disk. */
  file: string;
  pid: number;
}

const READY_WAIT_MS = 15_000;

/**
 * Starts nbdfuse (read-only) in the background on `mountPoint` and waits until the kernel shows the mount.
 * nbdfuse runs detached: it must outlive this command (it serves the mount until -U).
 */
export async function startFuseDisk(mountPoint: string, socketPath: string): Promise<FuseDisk> {
  mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
  const child = execa(tool('nbdfuse'), ['-r', join(mountPoint, DISK_FILE), '--unix', socketPath], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    reject: false,
    cleanup: false,
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  void child.then(() => (exited = true));
  const until = Date.now() + READY_WAIT_MS;
  while (!isMountPoint(mountPoint)) {
    if (exited || Date.now() > until) {
      if (!exited) child.kill('SIGKILL');
      throw new VcbError('MOUNT', `nbdfuse did not present the disk at ${mountPoint}${stderr.trim() ? `: ${stderr.trim()}` : exited ? ' (it exited)' : ' within 15 s'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  child.stderr?.destroy();
  child.unref();
  return { mountPoint, file: join(mountPoint, DISK_FILE), pid: child.pid! };
}

/** Unmounts a disk file (lazily when the kernel still uses it); 'absent' when it was not mounted. */
export async function stopFuseDisk(mountPoint: string): Promise<'released' | 'absent'> {
  if (!isMountPoint(mountPoint)) return 'absent';
  let r = await execa(tool('fusermount3'), ['-u', mountPoint], { reject: false });
  if (r.exitCode !== 0 && isMountPoint(mountPoint)) r = await execa(tool('fusermount3'), ['-u', '-z', mountPoint], { reject: false });
  if (r.exitCode !== 0 && isMountPoint(mountPoint)) throw new Error(`fusermount3 -u ${mountPoint} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return 'released';
}
