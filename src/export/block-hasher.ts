// The block list of a disk streamed in offset order (block-digest.ts's definition), hashed straight from the pieces as they pass.

import { blockLine, DIGEST_BLOCK, incrementalBlockHash, type BlockHash, type IncrementalBlockHash } from './block-digest.js';
import { isAllZero } from './zero.js';

const ZEROS = Buffer.alloc(DIGEST_BLOCK);

/**
 * Hashes each 1 MiB block from the pieces given, without copying them (the export's BlockAssembler copies
 * them into whole blocks because it also writes them; a stream only needs the hashes). Bytes never given
 * are zeros; a block with no non-zero byte gets no line.
 */
export class StreamBlockHasher {
  private block = -1;
  private hash: IncrementalBlockHash | undefined;
  /** Bytes of the open block hashed so far. */
  private filled = 0;
  private nonZero = false;

  constructor(
    private readonly capacity: number,
    private readonly algorithm: BlockHash,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Takes a piece of the disk; offsets only grow. */
  push(offset: number, data: Buffer): void {
    for (let at = 0; at < data.length; ) {
      const position = offset + at;
      const block = Math.floor(position / DIGEST_BLOCK);
      if (block < this.block) throw new Error(`streamed offset ${position} comes after block ${this.block}`);
      if (block !== this.block) this.open(block);
      const within = position - block * DIGEST_BLOCK;
      const take = Math.min(data.length - at, DIGEST_BLOCK - within);
      const piece = data.subarray(at, at + take);
      at += take;
      this.zerosTo(within);
      this.hash!.update(piece);
      this.filled = within + take;
      if (!this.nonZero && !isAllZero(piece)) this.nonZero = true;
    }
  }

  /** Closes the last block. */
  finish(): void {
    this.close();
  }

  private open(block: number): void {
    this.close();
    this.block = block;
    this.hash = incrementalBlockHash(this.algorithm);
    this.filled = 0;
    this.nonZero = false;
  }

  private zerosTo(within: number): void {
    if (this.filled < within) this.hash!.update(ZEROS.subarray(0, within - this.filled));
    this.filled = Math.max(this.filled, within);
  }

  private close(): void {
    if (!this.hash) return;
    const start = this.block * DIGEST_BLOCK;
    if (this.nonZero) {
      this.zerosTo(Math.min(DIGEST_BLOCK, this.capacity - start));
      this.onLine(blockLine(start, this.hash.hex()));
    }
    this.hash = undefined;
  }
}
