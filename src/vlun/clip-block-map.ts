// The part of a block map inside a byte range, so a reader fetches a piece of a frozen file instead of all of it.

import type { BlockMap, DiskExtent } from './types.js';

/**
 * Index of the first extent ending after `offset` (extents in file order, not overlapping), or
 * extents.length when none does. A binary search: a thin disk of terabytes has millions of extents,
 * and a random-access reader looks one up for every chunk it reads.
 */
export function firstExtentEndingAfter(extents: readonly DiskExtent[], offset: number): number {
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = extents[mid]!;
    if (e.fileOffset + e.length > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The extents of `map` inside [offset, offset+length), cut at the range's ends; a cut mapped or unzeroed
 * extent's LUN offset moves with its start, so a SAN read of the piece finds the same bytes. The map keeps
 * the file's path and size (the readers name the file by them); its extents cover only the range, which is
 * all a reader then reads. A range past the end of the file gives no extents.
 */
export function clipBlockMap(map: BlockMap, offset: number, length: number): BlockMap {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`cannot clip the block map of ${map.path} to ${offset}+${length}`);
  }
  return { path: map.path, size: map.size, extents: extentsWithin(map.extents, offset, offset + length) };
}

/** The pieces of `extents` (in file order) inside [start, end). */
export function extentsWithin(extents: readonly DiskExtent[], start: number, end: number): DiskExtent[] {
  const out: DiskExtent[] = [];
  for (let i = firstExtentEndingAfter(extents, start); i < extents.length; i++) {
    const e = extents[i]!;
    if (e.fileOffset >= end) break;
    const from = Math.max(start, e.fileOffset);
    const to = Math.min(end, e.fileOffset + e.length);
    const piece: DiskExtent = { ...e, fileOffset: from, length: to - from };
    if (e.lunOffset !== undefined) piece.lunOffset = e.lunOffset + (from - e.fileOffset);
    out.push(piece);
  }
  return out;
}

/** Whether any mapped extent (data a reader must fetch) lies in [start, end). */
export function hasMappedWithin(extents: readonly DiskExtent[], start: number, end: number): boolean {
  for (let i = firstExtentEndingAfter(extents, start); i < extents.length; i++) {
    const e = extents[i]!;
    if (e.fileOffset >= end) return false;
    if (e.kind === 'mapped') return true;
  }
  return false;
}
