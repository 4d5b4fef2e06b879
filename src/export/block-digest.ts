// Per-disk checksums that never hash runs of zeros: sha256 of each non-zero 1 MiB block, and a digest over that list.
//
// Definition (version 1), for a disk image of `capacity` bytes:
// - Block i covers bytes [i*1048576, min((i+1)*1048576, capacity)) of the virtual disk (the last may be short).
// - A block is listed when it holds at least one non-zero byte. Its line is
//   `<byte offset in decimal> <sha256 of the block's bytes, 64 lowercase hex>\n`.
// - `<disk>.blocks.sha256` holds the lines of all listed blocks in increasing offset order, nothing else.
// - The disk digest is `sha256:` + hex sha256 over the ASCII text
//   `vcbmounter-disk-digest v1 capacity=<capacity> block=1048576\n` followed by the bytes of that file.
// Two images have the same digest exactly when they have the same capacity and the same bytes.

import { createHash } from 'node:crypto';
import { isAllZero } from './zero.js';

export const DIGEST_BLOCK = 1024 * 1024;

export function digestPreamble(capacity: number): string {
  return `vcbmounter-disk-digest v1 capacity=${capacity} block=${DIGEST_BLOCK}\n`;
}

export function blockLine(offset: number, hex: string): string {
  return `${offset} ${hex}\n`;
}

/** sha256 of one block's bytes, or undefined when they are all zero (such blocks are not listed). */
export function hashBlock(data: Buffer): string | undefined {
  return isAllZero(data) ? undefined : createHash('sha256').update(data).digest('hex');
}
