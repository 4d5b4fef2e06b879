// Streams a disk into whole 1 MiB digest blocks: when a block is complete it is hashed (xxh64 runs at memory
// speed, so on this thread) and its runs of data are written from it; its line joins the list in order.
//
// Pieces of any size (SSH packets, say) arrive in increasing offset order; bytes never given are zeros
// (block-digest.ts's definition). All-zero pieces are not copied or written, so zeros stay holes, and a
// block with no non-zero byte is neither written nor listed.

import { blockHex, blockLine, DIGEST_BLOCK, type BlockHash } from './block-digest.js';
import { isAllZero } from './zero.js';

interface Slot {
  bytes: Buffer;
  /** Writes from this slot not yet finished, plus 1 while the block is open. */
  holds: number;
}

export interface BlockAssemblerOptions {
  capacity: number;
  hash: BlockHash;
  /** Writes bytes of the disk; `data` stays untouched until the promise settles. */
  write: (offset: number, data: Buffer) => Promise<void>;
  /** Receives each listed block's line, in increasing offset order. */
  onLine: (line: string) => void;
  /** Blocks in memory at once (open or being written); default 8 (8 MiB). */
  slots?: number;
}

export class BlockAssembler {
  private readonly free: Slot[] = [];
  private readonly waiting: Array<(slot: Slot) => void> = [];
  private readonly writes = new Set<Promise<void>>();
  private made = 0;
  private readonly maxSlots: number;
  /** The open block: its index, its slot once a non-zero byte arrived, and how far its bytes are valid. */
  private block = -1;
  private slot: Slot | undefined;
  private validTo = 0;
  /** The open block's runs of copied bytes, [start, end) within the block, merged when they touch. */
  private runs: Array<[number, number]> = [];
  private failure: { error: unknown } | undefined;

  constructor(private readonly options: BlockAssemblerOptions) {
    this.maxSlots = Math.max(2, options.slots ?? 8);
  }

  /** Takes a piece of the disk; returns once it is copied (its write may still be running). */
  async push(offset: number, data: Buffer): Promise<void> {
    this.throwIfFailed();
    if (offset < 0 || offset + data.length > this.options.capacity) {
      throw new RangeError(`write ${offset}+${data.length} outside disk of ${this.options.capacity} bytes`);
    }
    for (let at = 0; at < data.length; ) {
      const position = offset + at;
      const block = Math.floor(position / DIGEST_BLOCK);
      if (block < this.block) throw new Error(`streamed offset ${position} comes after block ${this.block}`);
      if (block !== this.block) this.closeBlock(block);
      const within = position - block * DIGEST_BLOCK;
      const take = Math.min(data.length - at, DIGEST_BLOCK - within);
      const piece = data.subarray(at, at + take);
      at += take;
      if (isAllZero(piece)) continue;
      this.slot ??= await this.takeSlot();
      const slot = this.slot;
      if (this.validTo < within) slot.bytes.fill(0, this.validTo, within);
      piece.copy(slot.bytes, within);
      this.validTo = within + take;
      const last = this.runs[this.runs.length - 1];
      if (last && last[1] === within) last[1] = within + take;
      else this.runs.push([within, within + take]);
    }
  }

  /** Writes the open block's bytes as they are so far, and waits until every byte given so far is written. */
  async settleWrites(): Promise<void> {
    const slot = this.slot;
    if (slot) {
      const start = this.block * DIGEST_BLOCK;
      for (const [from, to] of this.runs) this.startWrite(slot, start + from, slot.bytes.subarray(from, to));
      this.runs = [];
    }
    while (this.writes.size > 0) await Promise.all([...this.writes]);
    this.throwIfFailed();
  }

  /** Closes the last block, waits for every write, and lets go of the blocks' memory. */
  async finish(): Promise<void> {
    this.closeBlock(Number.MAX_SAFE_INTEGER);
    await this.settleWrites();
    this.free.length = 0;
    this.made = 0;
    this.throwIfFailed();
  }

  /** Waits for what is running to stop, reporting nothing (after a failure elsewhere). */
  async abandon(): Promise<void> {
    this.failure ??= { error: new Error('abandoned') };
    this.slot = undefined;
    await Promise.allSettled([...this.writes]);
  }

  private closeBlock(next: number): void {
    const slot = this.slot;
    if (slot) {
      const start = this.block * DIGEST_BLOCK;
      const length = Math.min(DIGEST_BLOCK, this.options.capacity - start);
      if (this.validTo < length) slot.bytes.fill(0, this.validTo, length);
      try {
        this.options.onLine(blockLine(start, blockHex(slot.bytes.subarray(0, length), this.options.hash)));
      } catch (error) {
        this.failure ??= { error };
      }
      for (const [from, to] of this.runs) this.startWrite(slot, start + from, slot.bytes.subarray(from, to));
      this.release(slot);
    }
    this.block = next;
    this.slot = undefined;
    this.validTo = 0;
    this.runs = [];
  }

  private startWrite(slot: Slot, offset: number, data: Buffer): void {
    slot.holds++;
    const write: Promise<void> = this.options
      .write(offset, data)
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.writes.delete(write);
        this.release(slot);
      });
    this.writes.add(write);
  }

  private async takeSlot(): Promise<Slot> {
    let slot = this.free.pop();
    if (!slot && this.made < this.maxSlots) {
      this.made++;
      slot = { bytes: Buffer.allocUnsafe(DIGEST_BLOCK), holds: 0 };
    }
    slot ??= await new Promise<Slot>((resolve) => this.waiting.push(resolve));
    this.throwIfFailed();
    slot.holds = 1;
    return slot;
  }

  private release(slot: Slot): void {
    if (--slot.holds > 0) return;
    const waiter = this.waiting.shift();
    if (waiter) waiter(slot);
    else this.free.push(slot);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
