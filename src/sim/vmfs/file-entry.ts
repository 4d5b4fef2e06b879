// One datastore file's allocation (size, thin flag, LUN block per file block) and its block map.

import type { BlockExtent } from './types.js';

export interface FileEntry {
  size: number;
  thin: boolean;
  /** LUN block number per file block; null is a hole. Length is always ceil(size / blockSize). */
  blocks: Array<number | null>;
  /** File block indexes whose LUN block is allocated but not zeroed yet (reads as zeros). */
  unzeroed: Set<number>;
  mtimeMs: number;
  /** Set once the file is removed or replaced, so open handles stop touching blocks that may be reused. */
  removed: boolean;
}

export function blockCountFor(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize);
}

export function allocatedBlocks(entry: FileEntry): number {
  let count = 0;
  for (const block of entry.blocks) if (block !== null) count++;
  return count;
}

/** Adjacent blocks with contiguous LUN offsets (or adjacent holes) become one extent; the last is cut at the file size. */
export function computeBlockMap(entry: FileEntry, blockSize: number): BlockExtent[] {
  const extents: BlockExtent[] = [];
  const kindOf = (index: number): BlockExtent['kind'] =>
    entry.blocks[index] === null ? 'hole' : entry.unzeroed.has(index) ? 'unzeroed' : 'mapped';
  let index = 0;
  while (index < entry.blocks.length) {
    const kind = kindOf(index);
    const first = entry.blocks[index]!;
    let next = index + 1;
    while (
      next < entry.blocks.length &&
      kindOf(next) === kind &&
      (kind === 'hole' || entry.blocks[next] === first + (next - index))
    ) {
      next++;
    }
    const fileOffset = index * blockSize;
    const extent: BlockExtent = { fileOffset, length: Math.min(next * blockSize, entry.size) - fileOffset, kind };
    if (kind !== 'hole') extent.lunOffset = first * blockSize;
    extents.push(extent);
    index = next;
  }
  return extents;
}
