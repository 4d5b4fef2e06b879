// What this proxy must have to mount guest volumes (root, FUSE, loop devices, helper programs), checked before anything is acquired.

import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { VcbError } from '../errors.js';

/** A program the file-level mount runs, and the Debian package that has it. */
export interface ProxyTool {
  program: string;
  pkg: string;
  why: string;
}

/** Needed for every -t file run. */
export const BASE_TOOLS: readonly ProxyTool[] = [
  { program: 'nbdfuse', pkg: 'libnbd-bin', why: 'presents each snapshot disk to the kernel as a read-only file' },
  { program: 'fusermount3', pkg: 'fuse3', why: 'takes the disk files down' },
  { program: 'losetup', pkg: 'mount', why: 'one read-only loop device per partition' },
  { program: 'mount', pkg: 'mount', why: 'mounts the volumes read-only' },
  { program: 'umount', pkg: 'mount', why: 'unmounts them' },
];

/** Needed only for volumes of that file system: a volume whose driver is missing is skipped with a warning. */
export const DRIVER_TOOLS: Readonly<Record<'ntfs' | 'fat', ProxyTool>> = {
  ntfs: { program: 'ntfs-3g', pkg: 'ntfs-3g', why: 'mounts NTFS volumes read-only' },
  fat: { program: 'fusefat', pkg: 'fusefat', why: 'mounts FAT volumes read-only' },
};

export function findProgram(program: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      continue;
    }
  }
  return undefined;
}

function canOpen(device: string): boolean {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Every reason this proxy cannot mount guest volumes, each naming what is missing and how to get it. */
export function proxyProblems(): string[] {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('it must run as root: attaching loop devices and mounting file systems need root');
  }
  if (!existsSync('/dev/fuse')) problems.push('/dev/fuse is missing: load the fuse kernel module (modprobe fuse)');
  else if (!canOpen('/dev/fuse')) problems.push('/dev/fuse cannot be opened for reading and writing');
  if (!existsSync('/dev/loop-control')) problems.push('/dev/loop-control is missing: load the loop kernel module (modprobe loop)');
  const missing = BASE_TOOLS.filter((t) => !findProgram(t.program));
  for (const t of missing) problems.push(`${t.program} is not installed (Debian package ${t.pkg}; it ${t.why})`);
  return problems;
}

/** Throws MOUNT naming everything missing (`command` says who asks); called before anything is acquired. */
export function assertProxyCanMount(command = '-t file'): void {
  const problems = proxyProblems();
  if (problems.length === 0) return;
  throw new VcbError('MOUNT', `${command} cannot mount guest volumes on this proxy: ${problems.join('; ')} (see docs/file-level.md for what a proxy needs)`);
}

/**
 * The program's full path where it is found (cron's PATH often lacks /usr/sbin and /sbin, where losetup and
 * mount.* live), else its bare name for the system to find.
 */
export function tool(program: string): string {
  return findProgram(program) ?? program;
}
