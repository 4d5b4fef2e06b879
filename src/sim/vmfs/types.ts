// Contract of the simulated host's file system: VMFS datastores (one LUN image each) plus a small in-memory tree.

import type { RandomAccessFile } from '../../formats/random-access.js';

/** One run of a file's bytes: where it lies on the LUN, or that it is a hole. */
export interface BlockExtent {
  /** Offset in the file, bytes. */
  fileOffset: number;
  /** Length, bytes (a multiple of the block size except possibly the last extent). */
  length: number;
  /** 'mapped': bytes are at lunOffset on the LUN; 'unzeroed': allocated but reads as zeros; 'hole': not allocated (thin), reads as zeros. */
  kind: 'mapped' | 'unzeroed' | 'hole';
  /** Byte offset on the datastore's LUN image (mapped and unzeroed only). */
  lunOffset?: number;
}

export interface FileStat {
  type: 'file' | 'dir';
  size: number;
  /** Bytes of LUN blocks allocated to the file. */
  allocated: number;
  mtimeMs: number;
  /** True when the file allocates blocks on first write only. */
  thin: boolean;
}

export interface DatastoreInfo {
  name: string;
  /** Volume UUID, as in /vmfs/volumes/<uuid>. */
  uuid: string;
  /** Logical volume id, as printed by vmkfstools -t0 (LVID:<lvid>). */
  lvid: string;
  /** Absolute path of the LUN image file on the machine running the simulator (the first LUN of a spanned volume). */
  lunPath: string;
  /** Every LUN of the volume, in LVM extent order: its image, where its VMFS partition starts, what part of the volume it holds. */
  extents: { number: number; path: string; partitionOffset: number; volumeStart: number; bytes: number }[];
  blockSize: number;
  capacity: number;
  free: number;
}

/** Errors thrown by the Vfs carry a POSIX code so the shell can print "No such file or directory" etc. */
export interface VfsError extends Error {
  code: 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOSPC' | 'ENOTEMPTY' | 'EINVAL' | 'EACCES';
  path: string;
}

/**
 * Absolute-path file system of the simulated host. Paths under /vmfs/volumes/<uuid-or-name>/ live on
 * datastores (the datastore name is an alias of its uuid, like the host's symlink); everything else lives
 * in a small in-memory tree (/tmp, /etc, ...). All calls are synchronous so that a guest write or a snapshot
 * is atomic with respect to every other operation of the simulator.
 */
export interface Vfs {
  datastores(): DatastoreInfo[];
  /** Resolves "[ds] dir/file" or an absolute path (following the name alias) to the canonical /vmfs/volumes/<uuid>/... path. */
  canonical(path: string): string;
  /** The "[ds] dir/file" form of a datastore path. */
  bracketPath(path: string): string;
  stat(path: string): FileStat | undefined;
  /** Entry names of a directory, sorted bytewise. */
  list(path: string): string[];
  mkdir(path: string, opts?: { recursive?: boolean }): void;
  /** Creates (or replaces) a file of the given size; thick files get all blocks allocated now. */
  createFile(path: string, opts?: { size?: number; thin?: boolean }): void;
  open(path: string): RandomAccessFile;
  readFile(path: string): Buffer;
  writeFile(path: string, data: Uint8Array | string): void;
  remove(path: string, opts?: { recursive?: boolean }): void;
  rename(from: string, to: string): void;
  /** The block map of a datastore file, as vmkfstools -t0 reports it (adjacent blocks merged). */
  blockMap(path: string): BlockExtent[];
  /** Fault hook: while set, every allocation on that datastore fails with ENOSPC and free space reads 0. */
  setFull(datastoreName: string, full: boolean): void;
  /** Writes pending metadata (allocation maps) to disk; called on shutdown. */
  flush(): void;
}
