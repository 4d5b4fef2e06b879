// A disk's block checksum list file (`<disk>.blocks.xxh64`, `.blocks.sha256` in older exports): its name, its digest, and the rehash of the blocks overlays touched.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import type { ByteRange } from '../vlun/types.js';
import { blockLine, DIGEST_BLOCK, digestPreamble, hashBlock, type BlockHash } from './block-digest.js';
import { LineFileWriter, readLines } from './line-file.js';

export function blocksFileName(descriptorFileName: string, hash: BlockHash): string {
  return `${descriptorFileName.replace(/\.vmdk$/i, '')}.blocks.${hash}`;
}

/** The disk digest of a block list file of `hash` lines, per the definition in block-digest.ts. */
export async function digestOfBlocksFile(path: string, capacity: number, hash: BlockHash): Promise<string> {
  const digest = createHash('sha256').update(digestPreamble(capacity, hash));
  for await (const chunk of createReadStream(path)) digest.update(chunk as Buffer);
  return `sha256:${digest.digest('hex')}`;
}

/** Start offsets of the digest blocks the ranges touch, sorted, each once. */
export function touchedBlockOffsets(ranges: readonly ByteRange[]): number[] {
  const offsets = new Set<number>();
  for (const r of ranges) {
    if (r.length <= 0) continue;
    const first = Math.floor(r.offset / DIGEST_BLOCK);
    const last = Math.floor((r.offset + r.length - 1) / DIGEST_BLOCK);
    for (let b = first; b <= last; b++) offsets.add(b * DIGEST_BLOCK);
  }
  return [...offsets].sort((a, b) => a - b);
}

/**
 * Merges fresh hashes of the blocks `overlaid` touched, read back with `readAt`, into the sorted list at
 * `blocksPath` (dropping blocks now all zero, as the streamed list leaves out holes). The merge goes to a
 * side file renamed over the list, so the list is never half rewritten.
 */
export async function rehashBlocks(
  blocksPath: string,
  overlaid: readonly ByteRange[],
  capacity: number,
  hash: BlockHash,
  readAt: (offset: number, target: Buffer) => Promise<void>,
): Promise<void> {
  const touched = touchedBlockOffsets(overlaid);
  const fresh = new Map<number, string | undefined>();
  const buffer = Buffer.allocUnsafe(DIGEST_BLOCK);
  for (const offset of touched) {
    const piece = buffer.subarray(0, Math.min(DIGEST_BLOCK, capacity - offset));
    await readAt(offset, piece);
    fresh.set(offset, hashBlock(piece, hash));
  }
  const mergedPath = `${blocksPath}.merge`;
  const merged = await LineFileWriter.create(mergedPath);
  try {
    let next = 0;
    const emitTouchedBefore = (limit: number) => {
      while (next < touched.length && touched[next]! < limit) {
        const hex = fresh.get(touched[next]!);
        if (hex) merged.add(blockLine(touched[next]!, hex));
        next++;
      }
    };
    for await (const line of readLines(blocksPath)) {
      const offset = Number(line.slice(0, line.indexOf(' ')));
      emitTouchedBefore(offset);
      if (fresh.has(offset)) {
        emitTouchedBefore(offset + 1);
      } else {
        merged.add(`${line}\n`);
      }
      await merged.flushIfFull();
    }
    emitTouchedBefore(Number.POSITIVE_INFINITY);
    await merged.close();
  } catch (error) {
    await merged.abandon();
    throw error;
  }
  await rename(mergedPath, blocksPath);
}
