// Per-disk checksums that never hash runs of zeros: a checksum of each non-zero 1 MiB block, and a digest over that list.
//
// Definition, for a disk image of `capacity` bytes and a block checksum `hash` (the catalog names it per disk:
// `xxh64` since catalog version 2, `sha256` in version 1 catalogs):
// - Block i covers bytes [i*1048576, min((i+1)*1048576, capacity)) of the virtual disk (the last may be short).
// - A block is listed when it holds at least one non-zero byte. Its line is
//   `<byte offset in decimal> <checksum of the block's bytes in lowercase hex>\n`: xxh64 (seed 0) as 16 hex
//   digits, big-endian as `xxhsum -H1` prints it, or sha256 as 64.
// - `<disk>.blocks.<hash>` holds the lines of all listed blocks in increasing offset order, nothing else.
// - The disk digest is `sha256:` + hex sha256 over the ASCII preamble (digestPreamble) followed by the bytes
//   of that file.
// Two images with the same capacity and bytes have the same digest; a changed byte changes its block's
// checksum except by a chance of 2^-64 (xxh64 guards against corruption, not against a forger, who could
// rewrite the list and the catalog beside the data as well).

import { createHash } from 'node:crypto';
import { Xxh64, xxh64 } from '@node-rs/xxhash';
import { isAllZero } from './zero.js';

export const DIGEST_BLOCK = 1024 * 1024;

export type BlockHash = 'xxh64' | 'sha256';

/** The block checksum new exports write: xxh64 hashes at memory speed, where sha256 made verify CPU-bound (docs/benchmarks.md). */
export const BLOCK_HASH: BlockHash = 'xxh64';

/** Hex digits of one block checksum. */
export const BLOCK_HASH_HEX_LENGTH: Record<BlockHash, number> = { xxh64: 16, sha256: 64 };

export function digestPreamble(capacity: number, hash: BlockHash): string {
  return hash === 'sha256'
    ? `vcbmounter-disk-digest v1 capacity=${capacity} block=${DIGEST_BLOCK}\n`
    : `vcbmounter-disk-digest v2 capacity=${capacity} block=${DIGEST_BLOCK} hash=${hash}\n`;
}

export function blockLine(offset: number, hex: string): string {
  return `${offset} ${hex}\n`;
}

function xxh64Hex(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

/** The checksum (hex) of one block's bytes, zeros or not. */
export function blockHex(data: Uint8Array, hash: BlockHash): string {
  return hash === 'xxh64' ? xxh64Hex(xxh64(data)) : createHash('sha256').update(data).digest('hex');
}

/** The checksum of one block's bytes, or undefined when they are all zero (such blocks are not listed). */
export function hashBlock(data: Buffer, hash: BlockHash): string | undefined {
  return isAllZero(data) ? undefined : blockHex(data, hash);
}

/** A block checksum fed piece by piece. */
export interface IncrementalBlockHash {
  update(data: Uint8Array): void;
  hex(): string;
}

export function incrementalBlockHash(hash: BlockHash): IncrementalBlockHash {
  if (hash === 'xxh64') {
    const state = new Xxh64();
    return { update: (data) => void state.update(data), hex: () => xxh64Hex(state.digest()) };
  }
  const state = createHash('sha256');
  return { update: (data) => void state.update(data), hex: () => state.digest('hex') };
}

/** `blockHash` of a catalog disk: catalogs of version 1 name none and hold sha256. */
export function blockHashOf(disk: { blockHash?: BlockHash | undefined }): BlockHash {
  return disk.blockHash ?? 'sha256';
}
