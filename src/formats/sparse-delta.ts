// What a snapshot delta is to a chain, whichever its format (COWD for vmfsSparse, SEsparse for seSparse), and opening one by its magic.
import { openCowd } from './cowd.js';
import { isCowd } from './cowd-header.js';
import type { RandomAccessFile } from './random-access.js';
import { openSesparse } from './sesparse.js';
import { isSesparse } from './sesparse-header.js';

export interface ByteRange {
  offset: number;
  length: number;
}

/** Where a partial-grain write gets the bytes it does not overwrite. */
export interface ParentReader {
  read(buf: Uint8Array, position: number): void;
}

export type DeltaFormat = 'vmfsSparse' | 'seSparse';

export interface SparseDelta {
  readonly format: DeltaFormat;
  readonly capacity: number;
  readonly grainBytes: number;
  /** Fills buf from this delta alone (what it does not hold reads as zeros); returns the ranges it holds. */
  read(buf: Uint8Array, position: number): ByteRange[];
  /** Every virtual byte range this delta holds (zero grains included: they hide the parent), merged, in order. */
  allocatedExtents(): ByteRange[];
  /** Writes buf at position; the rest of a newly allocated grain comes from parent (zeros without one). */
  write(buf: Uint8Array, position: number, parent?: ParentReader): void;
  /** Why the delta's map points outside its file (truncated, or not assembled right), or undefined. */
  layoutProblem(): string | undefined;
}

/** Opens a COWD or SEsparse delta, told apart by the magic at its start. */
export function openSparseDelta(file: RandomAccessFile): SparseDelta {
  const head = new Uint8Array(8);
  const got = file.read(head, 0);
  const bytes = head.subarray(0, got);
  if (isSesparse(bytes)) return openSesparse(file);
  if (isCowd(bytes)) return openCowd(file);
  throw new Error('not a snapshot delta (neither a COWD nor a SEsparse magic)');
}
