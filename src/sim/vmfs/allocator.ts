// Free-block bookkeeping of one datastore, handing out blocks in short runs at random places so files fragment.

import { SeededRandom } from './ids.js';

/** Persisted state of the allocator, so that a reopened datastore continues the same deterministic sequence. */
export interface AllocatorState {
  rng: number;
  cursor: number;
  runLeft: number;
  /** [firstBlock, count] runs of free blocks that once held data and must read as zeros when reused. */
  stale: Array<[number, number]>;
}

const MAX_RUN_BLOCKS = 8;

export class BlockAllocator {
  private readonly used: Uint8Array;
  private readonly stale: Uint8Array;
  private readonly rng: SeededRandom;
  private cursor = 0;
  private runLeft = 0;
  private freeBlocks: number;

  constructor(
    readonly totalBlocks: number,
    readonly reservedBlocks: number,
    seed: number,
  ) {
    this.used = new Uint8Array(totalBlocks);
    this.used.fill(1, 0, reservedBlocks);
    this.stale = new Uint8Array(totalBlocks);
    this.rng = new SeededRandom(seed);
    this.freeBlocks = totalBlocks - reservedBlocks;
  }

  get free(): number {
    return this.freeBlocks;
  }

  /** Marks a block as held by a file (used when loading the allocation map). */
  claim(block: number): void {
    if (block < this.reservedBlocks || block >= this.totalBlocks || this.used[block]) {
      throw new Error(`block ${block} is out of range or claimed twice`);
    }
    this.used[block] = 1;
    this.freeBlocks--;
  }

  /** Takes one free block; `stale` is true when it held data before and has not been zeroed. */
  allocate(): { block: number; stale: boolean } | undefined {
    if (this.freeBlocks === 0) return undefined;
    let block: number;
    if (this.runLeft > 0 && this.cursor < this.totalBlocks && !this.used[this.cursor]) {
      block = this.cursor;
      this.runLeft--;
    } else {
      block = this.findFreeFrom(this.reservedBlocks + this.rng.below(this.totalBlocks - this.reservedBlocks));
      this.runLeft = this.rng.below(MAX_RUN_BLOCKS);
    }
    this.cursor = block + 1;
    this.used[block] = 1;
    this.freeBlocks--;
    const wasStale = this.stale[block] === 1;
    this.stale[block] = 0;
    return { block, stale: wasStale };
  }

  /** Gives a block back; its old bytes stay on the LUN, so it is stale until a writer zeroes it. */
  release(block: number, holdsData = true): void {
    if (!this.used[block] || block < this.reservedBlocks) throw new Error(`block ${block} is not allocated`);
    this.used[block] = 0;
    if (holdsData) this.stale[block] = 1;
    this.freeBlocks++;
  }

  /** Undoes an allocate() whose write never happened, restoring the block's stale mark. */
  unallocate(block: number, stale: boolean): void {
    this.release(block, false);
    if (stale) this.stale[block] = 1;
  }

  exportState(): AllocatorState {
    const runs: Array<[number, number]> = [];
    let start = this.stale.indexOf(1);
    while (start >= 0) {
      let end = this.stale.indexOf(0, start);
      if (end < 0) end = this.totalBlocks;
      runs.push([start, end - start]);
      start = this.stale.indexOf(1, end);
    }
    return { rng: this.rng.state, cursor: this.cursor, runLeft: this.runLeft, stale: runs };
  }

  importState(state: AllocatorState): void {
    this.rng.state = state.rng >>> 0;
    this.cursor = state.cursor;
    this.runLeft = state.runLeft;
    for (const [first, count] of state.stale) this.stale.fill(1, first, first + count);
  }

  private findFreeFrom(start: number): number {
    let block = this.used.indexOf(0, start);
    if (block < 0) block = this.used.indexOf(0, this.reservedBlocks);
    return block;
  }
}
