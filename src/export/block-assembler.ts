// Streams a disk into whole 1 MiB digest blocks held in shared memory: when a block is complete, its
// runs of data are written from there while the hashing thread hashes it; its line joins the list in order.
//
// Pieces of any size (SSH packets, say) arrive in increasing offset order; bytes never given are zeros
// (block-digest.ts's definition). All-zero pieces are not copied or written, so zeros stay holes, and a
// block with no non-zero byte is neither written nor listed.

import { blockLine, DIGEST_BLOCK } from './block-digest.js';
import type { HashThread } from './hash-thread.js';
import { isAllZero } from './zero.js';

interface Slot {
  memory: SharedArrayBuffer;
  bytes: Buffer;
  /** Writes from this slot not yet finished, plus 1 while its hash is pending or the block is open. */
  holds: number;
}

export interface BlockAssemblerOptions {
  capacity: number;
  hasher: HashThread;
  /** Writes bytes of the disk; `data` stays untouched until the promise settles. */
  write: (offset: number, data: Buffer) => Promise<void>;
  /** Receives each listed block's line, in increasing offset order. */
  onLine: (line: string) => void;
  /** Blocks in memory at once (open, being written or hashed); default 8 (8 MiB). */
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
  /** Lines are emitted by this chain, so they come out in block order whatever order hashes finish in. */
  private lines: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;

  constructor(private readonly options: BlockAssemblerOptions) {
    this.maxSlots = Math.max(2, options.slots ?? 8);
  }

  /** Takes a piece of the disk; returns once it is copied (its write and hash may still be running). */
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

  /** Writes the open block's bytes as they are so far, and waits for every write started (not for hashes). */
  async settleWrites(): Promise<void> {
    const slot = this.slot;
    if (slot) {
      const start = this.block * DIGEST_BLOCK;
      for (const [from, to] of this.runs) this.startWrite(slot, start + from, slot.bytes.subarray(from, to));
      this.runs = [];
    }
    while (this.writes.size > 0) await Promise.all(this.writes);
    this.throwIfFailed();
  }

  /** Closes the last block, waits for every write and every line, and lets go of the blocks' memory. */
  async finish(): Promise<void> {
    this.closeBlock(Number.MAX_SAFE_INTEGER);
    await this.settleWrites();
    await this.lines;
    this.free.length = 0;
    this.made = 0;
    this.throwIfFailed();
  }

  /** Waits for what is running to stop, reporting nothing (after a failure elsewhere). */
  async abandon(): Promise<void> {
    this.failure ??= { error: new Error('abandoned') };
    this.slot = undefined;
    await Promise.allSettled([...this.writes, this.lines]);
  }

  private closeBlock(next: number): void {
    const slot = this.slot;
    if (slot) {
      const start = this.block * DIGEST_BLOCK;
      const length = Math.min(DIGEST_BLOCK, this.options.capacity - start);
      if (this.validTo < length) slot.bytes.fill(0, this.validTo, length);
      for (const [from, to] of this.runs) this.startWrite(slot, start + from, slot.bytes.subarray(from, to));
      const hex = this.options.hasher.sha256(slot.memory, length);
      hex.then(
        () => this.release(slot),
        () => this.release(slot),
      );
      this.lines = this.lines.then(async () => {
        try {
          this.options.onLine(blockLine(start, await hex));
        } catch (error) {
          this.failure ??= { error };
        }
      });
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
      const memory = new SharedArrayBuffer(DIGEST_BLOCK);
      slot = { memory, bytes: Buffer.from(memory), holds: 0 };
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
