// What a snapshot delta is to a chain, whichever its format (COWD for vmfsSparse, SEsparse for seSparse), and the byte ranges it reports.

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

/** Appends a range to ranges in order, merged with the last one when they touch. */
export function pushRange(ranges: ByteRange[], offset: number, length: number): void {
  const last = ranges[ranges.length - 1];
  if (last && last.offset + last.length === offset) last.length += length;
  else ranges.push({ offset, length });
}
