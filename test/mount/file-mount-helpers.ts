// Helpers for the -t file tests: VMs built on the guest fixtures, what the guest put in its file systems, and what a run may leave on this proxy.

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseInventory, type Inventory } from '../../src/sim/inventory.js';
import type { SimVm } from '../../src/sim/esx/vm.js';
import { readMountTable } from '../../src/mount/mount-table.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/guests');

export interface FixtureFile {
  partition: number;
  path: string;
  sizeBytes: number;
  sha256: string;
}

export interface FixtureImage {
  name: string;
  diskIndex: number;
  sizeBytes: number;
  partitions: Array<{ index: number; startBytes: number; sizeBytes: number; fsType: string; label: string; driveLetter: string | null }>;
  files: FixtureFile[];
}

export function fixtureImage(name: string): FixtureImage {
  const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as { images: FixtureImage[] };
  return manifest.images.find((i) => i.name === name)!;
}

/** Guest writes that keep the file systems whole: into free space after the Linux guest's partitions. */
export const LINUX_GUEST = { writesPerSecond: 100, flushIntervalMs: 20, seed: 5, regionStart: '140M', region: '96M' };

export const LINUX_VM = { name: 'fs-linux', vmid: 61, disks: [{ size: '256M', thin: true, fixture: 'linux01-disk0' }], guest: LINUX_GUEST };
export const WINDOWS_VM = {
  name: 'fs-windows',
  vmid: 62,
  guestOS: 'windows9Server64Guest',
  family: 'windows',
  disks: [
    { size: '256M', thin: true, fixture: 'win01-disk0' },
    { size: '128M', thin: true, fixture: 'win01-disk1' },
  ],
  // Its NTFS volumes fill the disks: the guest writes only what a test makes it write.
  guest: { writesPerSecond: 0 },
};

export function fileInventory(vms: Array<Record<string, unknown>>, host: Record<string, unknown> = {}): Inventory {
  return parseInventory({ host, datastores: [{ name: 'datastore1', capacity: '2G' }], vms, seed: 11 });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Makes the guest create or replace a file in one of its ext4 volumes, as its own kernel would: the volume as the
 * guest sees it now is changed with debugfs in a scratch copy, and every 4 KiB block that differs is written back
 * to the VM's disk through its current top (a snapshot's delta while one is taken).
 */
export async function guestWritesFile(vm: SimVm, disk: number, partition: { startBytes: number; sizeBytes: number }, path: string, content: Buffer): Promise<void> {
  await guestWritesFiles(vm, disk, partition, [[path, content]]);
}

/**
 * guestWritesFile for several files at once (one scratch copy of the volume). Throws when debugfs did not write
 * one of them (its directory does not exist, the volume is full): debugfs itself exits 0 then.
 */
export async function guestWritesFiles(vm: SimVm, disk: number, partition: { startBytes: number; sizeBytes: number }, files: Array<[path: string, content: Buffer]>): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'vcb-guest-'));
  try {
    const before = vm.readDisk(disk).subarray(partition.startBytes, partition.startBytes + partition.sizeBytes);
    const image = join(scratch, 'volume.img');
    writeFileSync(image, before);
    const commands: string[] = [];
    files.forEach(([path, content], i) => {
      const source = join(scratch, `content-${i}`);
      writeFileSync(source, content);
      commands.push(`rm ${path}`, `write ${source} ${path}`);
    });
    const r = await execa('debugfs', ['-w', '-f', '-', image], { input: commands.join('\n') + '\n' });
    // Each write that succeeds says which inode it allocated.
    const written = (r.stdout.match(/^Allocated inode: \d+$/gm) ?? []).length;
    if (written !== files.length) throw new Error(`debugfs wrote ${written} of ${files.map(([p]) => p).join(', ')}: ${r.stderr.trim()}`);
    const after = readFileSync(image);
    for (let at = 0; at < after.length; at += 4096) {
      const block = after.subarray(at, at + 4096);
      if (!block.equals(before.subarray(at, at + 4096))) vm.writeAsGuest(disk, partition.startBytes + at, Buffer.from(block));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Loop devices whose backing file lies under `dir`. */
export async function loopsUnder(dir: string): Promise<string[]> {
  const r = await execa('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { reject: false });
  if (!r.stdout.trim()) return [];
  const list = (JSON.parse(r.stdout) as { loopdevices: Array<{ name: string; 'back-file': string }> }).loopdevices;
  return list.filter((l) => l['back-file']?.startsWith(dir)).map((l) => l.name);
}

/** Processes whose command line mentions `needle` (the disk server, nbdfuse, ntfs-3g of a run). */
export function processesMentioning(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle) && Number(pid) !== process.pid) found.push(`${pid}: ${cmd}`);
    } catch {
      continue;
    }
  }
  return found;
}

/** Mount points at or under any of these paths. */
export function mountsUnder(...dirs: string[]): string[] {
  return readMountTable()
    .map((m) => m.mountPoint)
    .filter((p) => dirs.some((d) => p === d || p.startsWith(d + '/')));
}

/** Everything a -t file run may hold on this proxy: none of it may remain after -U or cleanup. */
export async function proxyLeftovers(work: string): Promise<string[]> {
  return [...mountsUnder(work).map((m) => `mount ${m}`), ...(await loopsUnder(work)).map((l) => `loop ${l}`), ...processesMentioning(work).filter((p) => !p.includes('vitest')).map((p) => `process ${p}`)];
}

export function exists(path: string): boolean {
  return existsSync(path);
}
