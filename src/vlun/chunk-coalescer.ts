// Gathers contiguous small pieces (SSH packets) into one reused buffer and hands the sink whole, aligned chunks.

import type { ChunkSink } from './types.js';

export const COALESCED_CHUNK = 1024 * 1024;

/**
 * Pieces must arrive in increasing offset order. A chunk goes to the sink when the buffer reaches the
 * next multiple of `size` in the file, when a piece does not continue the buffered bytes, or on flush().
 * The buffer is reused only after the sink's promise settles, so the sink contract holds.
 */
export class ChunkCoalescer {
  private readonly buffer: Buffer;
  private start = 0;
  private filled = 0;

  constructor(
    private readonly sink: ChunkSink,
    private readonly size = COALESCED_CHUNK,
  ) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  async push(offset: number, data: Buffer): Promise<void> {
    let at = 0;
    while (at < data.length) {
      const position = offset + at;
      if (this.filled > 0 && position !== this.start + this.filled) await this.flush();
      if (this.filled === 0) this.start = position;
      const chunkEnd = (Math.floor(this.start / this.size) + 1) * this.size;
      const take = Math.min(data.length - at, chunkEnd - position);
      data.copy(this.buffer, this.filled, at, at + take);
      this.filled += take;
      at += take;
      if (this.start + this.filled === chunkEnd) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const length = this.filled;
    this.filled = 0;
    await this.sink(this.start, this.buffer.subarray(0, length));
  }
}
