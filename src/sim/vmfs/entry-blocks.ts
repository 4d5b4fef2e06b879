// Block-level I/O of datastore files: reads and writes through each file's block list on the LUN, allocation and release.

import type { BlockAllocator } from './allocator.js';
import { SimVfsError } from './errors.js';
import { blockCountFor, type FileEntry } from './file-entry.js';
import type { LunDevices } from './lun-devices.js';

/** Moves file bytes between callers and the LUN; the datastore owns the namespace, mtimes and persisting the map. */
export class EntryBlocks {
  constructor(
    private readonly lun: Pick<LunDevices, 'read' | 'write'>,
    private readonly allocator: BlockAllocator,
    readonly blockSize: number,
    /** The setFull fault hook: while true every allocation fails. */
    private readonly isFull: () => boolean,
  ) {}

  read(entry: FileEntry, buf: Uint8Array, position: number): number {
    if (position >= entry.size) return 0;
    const total = Math.min(buf.length, entry.size - position);
    const bs = this.blockSize;
    let done = 0;
    while (done < total) {
      const index = Math.floor((position + done) / bs);
      const inBlock = position + done - index * bs;
      const block = entry.blocks[index] ?? null;
      let length = Math.min(bs - inBlock, total - done);
      if (block === null || entry.unzeroed.has(index)) {
        buf.fill(0, done, done + length);
      } else {
        let next = index + 1;
        while (done + length < total && entry.blocks[next] === block + (next - index) && !entry.unzeroed.has(next)) {
          length += Math.min(bs, total - done - length);
          next++;
        }
        this.lun.read(buf, done, length, block * bs + inBlock);
      }
      done += length;
    }
    return total;
  }

  /** Writes data at position (all of its new blocks are allocated first, or none: ENOSPC); true when the block list or size changed. */
  write(entry: FileEntry, data: Uint8Array, position: number, display: string): boolean {
    const bs = this.blockSize;
    const end = position + data.length;
    const lastIndex = Math.floor((end - 1) / bs);
    const firstIndex = Math.floor(position / bs);
    // A thick file has no holes below its block count, so only blocks past it can need allocating.
    const allocateFrom = entry.thin ? firstIndex : Math.min(firstIndex, entry.blocks.length);
    let structureChanged = this.ensureAllocated(entry, allocateFrom, lastIndex, display);
    let done = 0;
    while (done < data.length) {
      const index = Math.floor((position + done) / bs);
      const inBlock = position + done - index * bs;
      const length = Math.min(bs - inBlock, data.length - done);
      const blockStart = entry.blocks[index]! * bs;
      const piece = data.subarray(done, done + length);
      if (entry.unzeroed.has(index)) {
        if (length < bs) {
          const whole = Buffer.alloc(bs);
          whole.set(piece, inBlock);
          this.lun.write(whole, blockStart);
        } else {
          this.lun.write(piece, blockStart);
        }
        entry.unzeroed.delete(index);
        structureChanged = true;
      } else {
        this.lun.write(piece, blockStart + inBlock);
      }
      done += length;
    }
    if (end > entry.size) {
      entry.size = end;
      structureChanged = true;
    }
    return structureChanged;
  }

  /** Sets the file's size: shrinking frees blocks, growing a thick file allocates them; false when the size was already that. */
  truncate(entry: FileEntry, size: number, display: string): boolean {
    if (!Number.isSafeInteger(size) || size < 0) throw new SimVfsError('EINVAL', display, `Bad size ${size}`);
    if (size === entry.size) return false;
    const bs = this.blockSize;
    const keep = blockCountFor(size, bs);
    if (size < entry.size) {
      const tailIndex = keep - 1;
      const tailBlock = tailIndex >= 0 ? entry.blocks[tailIndex] : null;
      if (size % bs !== 0 && tailBlock != null && !entry.unzeroed.has(tailIndex)) {
        const oldEndInBlock = Math.min(entry.size - tailIndex * bs, bs);
        this.lun.write(Buffer.alloc(oldEndInBlock - (size % bs)), tailBlock * bs + (size % bs));
      }
      for (let index = keep; index < entry.blocks.length; index++) {
        const block = entry.blocks[index];
        if (block != null) this.allocator.release(block);
        entry.unzeroed.delete(index);
      }
      entry.blocks.length = keep;
    } else if (entry.thin) {
      while (entry.blocks.length < keep) entry.blocks.push(null);
    } else {
      this.ensureAllocated(entry, entry.blocks.length, keep - 1, display);
    }
    entry.size = size;
    return true;
  }

  /**
   * Gives every hole in file blocks [first, last] a LUN block, growing the block list as needed. Either all
   * succeed or nothing changes (ENOSPC). Reused blocks that still hold old data are marked unzeroed.
   */
  ensureAllocated(entry: FileEntry, first: number, last: number, display: string): boolean {
    const oldLength = entry.blocks.length;
    while (entry.blocks.length <= last) entry.blocks.push(null);
    const holes: number[] = [];
    for (let index = Math.max(first, 0); index <= last; index++) if (entry.blocks[index] === null) holes.push(index);
    if (holes.length === 0) return entry.blocks.length !== oldLength;
    if (this.isFull() || holes.length > this.allocator.free) {
      entry.blocks.length = oldLength;
      throw new SimVfsError('ENOSPC', display);
    }
    for (const index of holes) {
      const { block, stale } = this.allocator.allocate()!;
      entry.blocks[index] = block;
      if (stale) entry.unzeroed.add(index);
    }
    return true;
  }

  /** Gives every block of a removed or replaced file back; open handles on it stop working. */
  release(entry: FileEntry): void {
    for (const block of entry.blocks) if (block !== null) this.allocator.release(block);
    entry.removed = true;
  }
}
