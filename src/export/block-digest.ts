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

import { createHash, type Hash } from 'node:crypto';
import { isAllZero, zeros } from './zero.js';

export const DIGEST_BLOCK = 1024 * 1024;

export function digestPreamble(capacity: number): string {
  return `vcbmounter-disk-digest v1 capacity=${capacity} block=${DIGEST_BLOCK}\n`;
}

export function blockLine(offset: number, hex: string): string {
  return `${offset} ${hex}\n`;
}

/**
 * Hashes blocks from writes that arrive in increasing offset order (gaps are zeros). A block is hashed
 * only once it shows a non-zero byte; its leading zeros are fed then. Emits each non-zero block once.
 */
export class StreamingBlockHasher {
  private block = -1;
  private hash: Hash | undefined;
  private fedTo = 0;

  constructor(
    private readonly capacity: number,
    private readonly onBlock: (offset: number, hex: string) => void,
  ) {}

  update(offset: number, data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      const position = offset + at;
      const block = Math.floor(position / DIGEST_BLOCK);
      if (block < this.block) throw new Error(`hasher got offset ${position} after block ${this.block}`);
      if (block !== this.block) this.startBlock(block);
      const take = Math.min(data.length - at, (block + 1) * DIGEST_BLOCK - position);
      const piece = data.subarray(at, at + take);
      if (this.hash || !isAllZero(piece)) {
        this.hash ??= createHash('sha256');
        if (position > this.fedTo) this.hash.update(zeros(position - this.fedTo));
        this.hash.update(piece);
        this.fedTo = position + take;
      }
      at += take;
    }
  }

  finish(): void {
    this.startBlock(Number.MAX_SAFE_INTEGER);
  }

  private startBlock(block: number): void {
    if (this.hash) {
      const start = this.block * DIGEST_BLOCK;
      const end = Math.min(start + DIGEST_BLOCK, this.capacity);
      if (end > this.fedTo) this.hash.update(zeros(end - this.fedTo));
      this.onBlock(start, this.hash.digest('hex'));
    }
    this.block = block;
    this.hash = undefined;
    this.fedTo = block * DIGEST_BLOCK;
  }
}

/** sha256 of one block's bytes, or undefined when they are all zero (such blocks are not listed). */
export function hashBlock(data: Buffer): string | undefined {
  return isAllZero(data) ? undefined : createHash('sha256').update(data).digest('hex');
}
