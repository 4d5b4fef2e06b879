// purpose: list the volumes of one guest disk — its partitions (or the whole disk when it has no table) with the file system each holds.

import { readDiskPartitions, type DiskLayout, type ReadAt } from '../formats/partition-table.js';
import { probeFileSystem, type FsProbe } from './probe.js';

export interface GuestVolume {
  /** The partition's number on its disk as Linux gives it (MBR logical partitions from 5); 0 = the whole disk. */
  index: number;
  /** Byte offset on the disk. */
  start: number;
  /** Bytes, as the table says (a partition running past the disk's end is probed only up to it, with a warning). */
  size: number;
  table: DiskLayout['table'];
  /** MBR type byte in hex or GPT type GUID; absent for a whole-disk volume. */
  partitionType?: string;
  /** GPT partition name. */
  partitionName?: string;
  bootable?: boolean;
  logical?: boolean;
  fs: FsProbe;
}

export interface GuestDisk {
  table: DiskLayout['table'];
  volumes: GuestVolume[];
  warnings: string[];
}

/**
 * Finds the volumes of a `diskBytes`-byte disk read through `read`: every data partition of its MBR or GPT (an MBR
 * extended partition is a container, not a volume), or, without a table, the whole disk as volume 0 when it holds a
 * file system. Volumes holding no known file system are listed with fs type 'unknown'. Damage is reported in
 * `warnings`, never thrown; only a failure to read the disk's first sector throws.
 */
export async function findVolumes(read: ReadAt, diskBytes: number): Promise<GuestDisk> {
  const layout = await readDiskPartitions(read, diskBytes);
  const warnings = [...layout.warnings];
  const probe = async (start: number, size: number, what: string): Promise<FsProbe> => {
    try {
      return await probeFileSystem(read, start, Math.max(0, Math.min(size, diskBytes - start)));
    } catch (error) {
      warnings.push(`${what}: cannot read it (${(error as Error).message})`);
      return { type: 'unknown', detail: `not read: ${(error as Error).message}` };
    }
  };
  if (layout.table === 'none') {
    const fs = await probe(0, diskBytes, 'whole disk');
    if (fs.type === 'unknown') {
      warnings.push('no partition table and no file system at the start of the disk');
      return { table: 'none', volumes: [], warnings };
    }
    return { table: 'none', volumes: [{ index: 0, start: 0, size: diskBytes, table: 'none', fs }], warnings };
  }
  const volumes: GuestVolume[] = [];
  for (const p of layout.partitions) {
    const volume: GuestVolume = { index: p.index, start: p.start, size: p.size, table: layout.table, partitionType: p.type, fs: await probe(p.start, p.size, `partition ${p.index}`) };
    if (p.name !== undefined) volume.partitionName = p.name;
    if (p.bootable !== undefined) volume.bootable = p.bootable;
    if (p.logical) volume.logical = true;
    volumes.push(volume);
  }
  if (volumes.length === 0 && warnings.length === 0) warnings.push(`the ${layout.table.toUpperCase()} partition table lists no partitions`);
  return { table: layout.table, volumes, warnings };
}
