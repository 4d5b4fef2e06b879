// Mounting one guest volume read-only with the driver its file system needs, never replaying a journal, and unmounting it.

import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { isMountPoint } from './mount-table.js';
import { DRIVER_TOOLS, findProgram, tool } from './proxy-support.js';

export interface MountPlan {
  /** The program and its arguments (device and mount point last, as each program wants them). */
  argv: string[];
  /** What the manifest says mounted it. */
  driver: string;
}

function kernelHas(fs: string): boolean {
  try {
    return readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.split('\t').pop() === fs);
  } catch {
    return false;
  }
}

// nodev/nosuid/noexec: the guest's files are data to this proxy, never devices, set-uid programs or programs to run.
const SAFE = 'ro,nodev,nosuid,noexec';

/**
 * How to mount a volume of file system `fsType` read-only without writing to it, or why it cannot be:
 * ext2/3/4 without journal replay (noload), XFS without log recovery, btrfs without log replay, NTFS through
 * ntfs-3g read-only (a dirty journal is not replayed), FAT through the kernel where it has vfat, else fusefat.
 */
export function mountPlan(fsType: string, device: string, mountPoint: string): MountPlan | { skip: string } {
  switch (fsType) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      return { argv: ['mount', '-t', 'ext4', '-o', `${SAFE},noload`, device, mountPoint], driver: 'kernel ext4 (ro,noload)' };
    case 'xfs':
      return kernelHas('xfs') ? { argv: ['mount', '-t', 'xfs', '-o', `${SAFE},norecovery`, device, mountPoint], driver: 'kernel xfs (ro,norecovery)' } : { skip: 'this kernel has no xfs driver' };
    case 'btrfs':
      return kernelHas('btrfs') ? { argv: ['mount', '-t', 'btrfs', '-o', `${SAFE},rescue=nologreplay`, device, mountPoint], driver: 'kernel btrfs (ro,nologreplay)' } : { skip: 'this kernel has no btrfs driver' };
    case 'ntfs':
      if (!findProgram(DRIVER_TOOLS.ntfs.program)) return { skip: `ntfs-3g is not installed (Debian package ${DRIVER_TOOLS.ntfs.pkg})` };
      return { argv: ['ntfs-3g', '-o', SAFE, device, mountPoint], driver: 'ntfs-3g (ro)' };
    case 'fat12':
    case 'fat16':
    case 'fat32':
      if (kernelHas('vfat')) return { argv: ['mount', '-t', 'vfat', '-o', SAFE, device, mountPoint], driver: 'kernel vfat (ro)' };
      if (!findProgram(DRIVER_TOOLS.fat.program)) return { skip: `this kernel has no vfat driver and fusefat is not installed (Debian package ${DRIVER_TOOLS.fat.pkg})` };
      // fusefat mounts read-only unless told rw+.
      return { argv: ['fusefat', '-o', 'ro', device, mountPoint], driver: 'fusefat (ro)' };
    case 'exfat':
      return kernelHas('exfat') ? { argv: ['mount', '-t', 'exfat', '-o', SAFE, device, mountPoint], driver: 'kernel exfat (ro)' } : { skip: 'this kernel has no exfat driver' };
    case 'swap':
      return { skip: 'swap space holds no files' };
    case 'lvm2':
      return { skip: 'an LVM physical volume: its logical volumes are not assembled by this version' };
    default:
      return { skip: 'no file system this version recognises' };
  }
}

/** Why a volume of this file system is not mounted on this proxy, or undefined when it can be. */
export function notMountable(fsType: string): string | undefined {
  const plan = mountPlan(fsType, 'DEVICE', 'MOUNTPOINT');
  return 'skip' in plan ? plan.skip : undefined;
}

export async function mountVolume(plan: MountPlan): Promise<void> {
  const [program, ...args] = plan.argv as [string, ...string[]];
  const mountPoint = args[args.length - 1]!;
  const r = await execa(tool(program), args, { reject: false, timeout: 60_000 });
  if (r.exitCode !== 0 || !isMountPoint(mountPoint)) {
    throw new Error(`${plan.argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').pop() || `exit ${r.exitCode}`}`);
  }
}

export interface UnmountOptions {
  /** Tries of a plain unmount while the volume is busy, before the lazy one. */
  busyTries?: number;
  busyWaitMs?: number;
}

/**
 * Unmounts; while a program keeps the volume busy, tries again a few times, then detaches it lazily (the kernel
 * finishes when the last file is closed). Returns 'lazy' then, so the caller can say what still holds it.
 */
export async function unmountVolume(mountPoint: string, o: UnmountOptions = {}): Promise<'released' | 'absent' | 'lazy'> {
  if (!isMountPoint(mountPoint)) return 'absent';
  const tries = o.busyTries ?? 5;
  let last = '';
  for (let i = 0; i < tries; i++) {
    const r = await execa(tool('umount'), [mountPoint], { reject: false });
    if (!isMountPoint(mountPoint)) return 'released';
    last = r.stderr.trim();
    if (!/busy/i.test(last)) break;
    await new Promise((resolve) => setTimeout(resolve, o.busyWaitMs ?? 400));
  }
  const lazy = await execa(tool('umount'), ['-l', mountPoint], { reject: false });
  if (isMountPoint(mountPoint)) throw new Error(`cannot unmount ${mountPoint}: ${lazy.stderr.trim() || last || `exit ${lazy.exitCode}`}`);
  return 'lazy';
}

/** A second, read-only view of a mounted volume at another path (letters/C, names/root). */
export function bindPlan(source: string, target: string): MountPlan {
  return { argv: ['mount', '--bind', '-o', `${SAFE}`, source, target], driver: 'bind' };
}
