// The -t file directory's layout and its manifest: every volume of every disk, where it is mounted, or why it is not.

import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST_FILE = 'vcbmounter-volumes.json';
export const LAYOUT_DIRS = ['letters', 'digits', 'names'] as const;

export interface VolumeRecord {
  /** Disk number in the VM's disk order, and its controller slot. */
  disk: number;
  device: string;
  /** Partition number as Linux counts it (logical partitions from 5); 0 for a disk without a partition table. */
  partition: number;
  partitionTable: 'mbr' | 'gpt' | 'none';
  partitionType?: string;
  startBytes: number;
  sizeBytes: number;
  fileSystem: string;
  label?: string;
  uuid?: string;
  /** The file system says it was not cleanly unmounted (its journal is not replayed: the view is as on disk). */
  dirty?: boolean;
  /** Paths under DIR where it is mounted (digits/ first), empty when it is not. */
  paths: string[];
  driver?: string;
  letter?: string;
  guestMountPoint?: string;
  /** Why it is not mounted. */
  notMounted?: string;
}

export interface VolumeManifest {
  format: 'vcbmounter-volumes';
  version: 1;
  runId: string;
  host: string;
  vm: string;
  snapshot: { name: string; quiesced: boolean };
  /** -m of the -t file run, or "backup" for mount-backup. */
  mode: string;
  /** mount-backup: the fullvm backup directory the volumes come from. */
  backup?: string;
  createdAt: string;
  volumes: VolumeRecord[];
  warnings: string[];
}

export function writeManifest(dir: string, manifest: VolumeManifest): void {
  const path = join(dir, MANIFEST_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}
