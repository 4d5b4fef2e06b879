// The narrow interface vfs.ts drives for each volume (a datastore or the in-memory tree); namespace rules live in vfs.ts.

import type { RandomAccessFile } from '../../formats/random-access.js';
import type { FileStat } from './types.js';

/**
 * Paths are volume-relative without leading slash ("" is the root). Callers have already checked the
 * namespace rules (parent exists and is a directory, target kinds); a volume only throws ENOSPC.
 */
export interface Volume {
  kind(rel: string): 'file' | 'dir' | undefined;
  /** Names directly inside a directory, in no particular order. */
  children(rel: string): string[];
  stat(rel: string): FileStat | undefined;
  makeDir(rel: string): void;
  /** Creates a file, replacing a file of that name. */
  createFile(rel: string, size: number, thin: boolean): void;
  removeFile(rel: string): void;
  /** Removes an empty directory. */
  removeDir(rel: string): void;
  /** Moves a file or a directory subtree within the volume without copying data; `to` does not exist. */
  move(from: string, to: string): void;
  /** A handle bound to the file itself: it follows renames, and fails with ENOENT once the file is removed. */
  open(rel: string): RandomAccessFile;
}
