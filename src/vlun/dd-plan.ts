// Pure planning of stock `dd` reads: byte ranges to `dd if= bs= skip= count=` commands and batched command lines.

import { shellJoin } from '../util/shell-quote.js';
import type { ByteRange } from './types.js';

/** Largest block size used (the VMFS file block size). */
export const MAX_DD_BLOCK = 1024 * 1024;

export interface DdRead {
  offset: number;
  length: number;
  blockSize: number;
  skip: number;
  count: number;
}

function largestPowerOfTwoDividing(n: number, cap: number): number {
  let bs = 1;
  while (bs < cap && n % (bs * 2) === 0) bs *= 2;
  return bs;
}

/**
 * Splits a byte range into dd reads whose offset and length are whole blocks: an aligned 1 MiB-multiple
 * range is one read; an unaligned head climbs to the next 1 MiB boundary one doubling block at a time,
 * and an unaligned tail becomes a few smaller-block reads
 * (no iflag=: the busybox dd of older hosts has none and newer ones know only skip_bytes and fullblock, so every
 * boundary must be a multiple of bs).
 */
export function planDdReads(range: ByteRange, maxBlock = MAX_DD_BLOCK): DdRead[] {
  const reads: DdRead[] = [];
  let offset = range.offset;
  let remaining = range.length;
  while (remaining > 0) {
    const aligned = offset === 0 ? maxBlock : largestPowerOfTwoDividing(offset, maxBlock);
    let blockSize = aligned;
    while (blockSize > remaining) blockSize /= 2;
    const climbing = blockSize === aligned && blockSize < maxBlock;
    const count = climbing ? 1 : Math.floor(remaining / blockSize);
    reads.push({ offset, length: count * blockSize, blockSize, skip: offset / blockSize, count });
    offset += count * blockSize;
    remaining -= count * blockSize;
  }
  return reads;
}

export function ddArgv(path: string, read: DdRead): string[] {
  return ['dd', `if=${path}`, `bs=${read.blockSize}`, `skip=${read.skip}`, `count=${read.count}`];
}

/** One remote command line running the reads in order, stopping at the first failing dd. */
export function ddBatchLine(path: string, reads: readonly DdRead[]): string {
  return reads.map((r) => shellJoin(ddArgv(path, r))).join(' && ');
}

/** Groups consecutive reads so each command line stays short (one SSH channel per group). */
export function batchReads(reads: readonly DdRead[], maxPerBatch: number): DdRead[][] {
  const batches: DdRead[][] = [];
  for (let i = 0; i < reads.length; i += maxPerBatch) batches.push(reads.slice(i, i + maxPerBatch));
  return batches;
}

/**
 * Joins ranges (sorted, not overlapping) separated by at most maxGap bytes into spans to read whole:
 * one dd over a small hole costs less than a dd per side. The caller drops the bytes of the gaps.
 */
export function spanSmallGaps(ranges: readonly ByteRange[], maxGap: number): ByteRange[] {
  const spans: ByteRange[] = [];
  for (const r of ranges) {
    const last = spans[spans.length - 1];
    if (last && r.offset - (last.offset + last.length) <= maxGap) last.length = r.offset + r.length - last.offset;
    else spans.push({ offset: r.offset, length: r.length });
  }
  return spans;
}

/** Groups consecutive reads so each command line has at most maxPerBatch dd commands and maxChars characters. */
export function batchReadsForLine(path: string, reads: readonly DdRead[], maxPerBatch: number, maxChars: number): DdRead[][] {
  const batches: DdRead[][] = [];
  let current: DdRead[] = [];
  let chars = 0;
  for (const read of reads) {
    const length = shellJoin(ddArgv(path, read)).length + ' && '.length;
    if (current.length > 0 && (current.length >= maxPerBatch || chars + length > maxChars)) {
      batches.push(current);
      current = [];
      chars = 0;
    }
    current.push(read);
    chars += length;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
