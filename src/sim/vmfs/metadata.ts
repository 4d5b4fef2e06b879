// The allocation map of a datastore as persisted beside its LUN image (<name>.vmfs.json), written atomically.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AllocatorState } from './allocator.js';

export const METADATA_FORMAT = 'vcbmounter-sim-vmfs/1';

export interface PersistedFile {
  path: string;
  size: number;
  thin: boolean;
  /** LUN block number of each file block; null is a hole. */
  blocks: Array<number | null>;
  /** Present when some allocated blocks still read as zeros (not yet zeroed on the LUN). */
  unzeroed?: boolean[];
}

export interface DatastoreMetadata {
  format: typeof METADATA_FORMAT;
  name: string;
  uuid: string;
  lvid: string;
  blockSize: number;
  capacity: number;
  /** Blocks at the start of the LUN holding the volume header; never given to files. */
  reservedBlocks: number;
  /** How the LUNs are laid out (absent in maps written before layouts existed: 'none', one LUN). */
  partitionTable?: 'none' | 'mbr' | 'gpt';
  /** Volume bytes on the first of two LUNs. */
  spanAt?: number;
  files: PersistedFile[];
  /** Directories, volume-relative ("" is the root and is implicit). */
  dirs: string[];
  /** Modification times (ms) of files and directories by volume-relative path. */
  mtimes: Record<string, number>;
  allocator: AllocatorState;
}

export function saveMetadata(path: string, metadata: DatastoreMetadata): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(metadata));
  renameSync(tmp, path);
}

export function loadMetadata(path: string): DatastoreMetadata {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as DatastoreMetadata;
  if (parsed.format !== METADATA_FORMAT) {
    throw new Error(`${path}: not a simulated VMFS allocation map (format ${String(parsed.format)})`);
  }
  return parsed;
}
