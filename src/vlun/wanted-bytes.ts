// Filters the bytes of dd reads that span small holes down to the ranges that hold data.

import type { ByteRange } from './types.js';

/** Takes pieces of a file in increasing offset order. */
export interface PieceSink {
  push(offset: number, data: Buffer): Promise<void>;
  flush(): Promise<void>;
}

/** Passes on only the bytes inside the wanted ranges (data, not the holes read through); pieces come in order. */
export class WantedBytes {
  private index = 0;

  constructor(
    private readonly ranges: readonly ByteRange[],
    private readonly chunks: PieceSink,
  ) {}

  /** Returns how many of the piece's bytes were wanted. */
  async push(position: number, data: Buffer): Promise<number> {
    const end = position + data.length;
    let passed = 0;
    for (let at = position; at < end && this.index < this.ranges.length; ) {
      const range = this.ranges[this.index]!;
      const rangeEnd = range.offset + range.length;
      if (rangeEnd <= at) {
        this.index++;
        continue;
      }
      const from = Math.max(at, range.offset);
      if (from >= end) break;
      const to = Math.min(end, rangeEnd);
      await this.chunks.push(from, data.subarray(from - position, to - position));
      passed += to - from;
      at = to;
    }
    return passed;
  }

  flush(): Promise<void> {
    return this.chunks.flush();
  }
}

