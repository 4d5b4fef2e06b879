// Read-only loop devices over a byte range of a disk file (one per guest partition), and their detach.

import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { VcbError } from '../errors.js';
import { tool } from './proxy-support.js';

/** Attaches `file` [offset, offset+size) read-only to a free loop device; returns its path (/dev/loopN). */
export async function attachLoop(file: string, offset: number, size: number): Promise<string> {
  const r = await execa(tool('losetup'), ['--read-only', '--find', '--show', '--offset', String(offset), '--sizelimit', String(size), file], { reject: false });
  const device = r.stdout.trim();
  if (r.exitCode !== 0 || !device.startsWith('/dev/')) {
    throw new VcbError('MOUNT', `cannot attach a read-only loop device to ${file} at offset ${offset}: ${r.stderr.trim() || `losetup exited ${r.exitCode}`}`);
  }
  return device;
}

/** The file a loop device is attached to, or undefined when it is free (or not a loop device). */
export function loopBackingFile(device: string): string | undefined {
  const name = device.replace(/^\/dev\//, '');
  if (!/^loop\d+$/.test(name)) return undefined;
  try {
    return readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Detaches the device if it is still attached to `backingFile` (a loop device number is reused as soon as
 * it is free: another program's device is never touched). 'absent' when there was nothing to detach.
 */
export async function detachLoop(device: string, backingFile: string): Promise<'released' | 'absent'> {
  const current = loopBackingFile(device);
  // The kernel names a file served by FUSE by its path, with " (deleted)" once it is gone.
  if (current === undefined || current.replace(/ \(deleted\)$/, '') !== backingFile) return 'absent';
  const r = await execa(tool('losetup'), ['--detach', device], { reject: false });
  if (r.exitCode !== 0 && loopBackingFile(device) !== undefined) {
    throw new Error(`losetup --detach ${device} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
  return 'released';
}
