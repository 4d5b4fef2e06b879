// Reads a disk's block list (`<disk>.blocks.xxh64` or `.sha256`) line by line for a verify: each line's offset in the file, its checks, and the file's digest.

import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { BLOCK_HASH_HEX_LENGTH, DIGEST_BLOCK, digestPreamble, type BlockHash } from './block-digest.js';
import type { VerifyProblem } from './verify-problems.js';

export interface ListedBlock {
  /** Byte offset of the block in the virtual disk. */
  diskOffset: number;
  /** The block's checksum as listed (hex). */
  hex: string;
  /** Byte offset of its line in the block list file. */
  lineOffset: number;
}

const lineOf = (hash: BlockHash) => new RegExp(`^(0|[1-9][0-9]{0,15}) ([0-9a-f]{${BLOCK_HASH_HEX_LENGTH[hash]}})$`);
const READ_SIZE = 1024 * 1024;
const MAX_LIST_PROBLEMS = 1000;

/**
 * The listed blocks in file order, by next(). Lines that are not `<offset> <checksum>`, offsets that are not
 * on a 1 MiB boundary inside the disk, and lines not in increasing order are problems (and skipped). The
 * raw bytes are hashed as they pass, so that `digest()` at the end is the digest the catalog records
 * (block-digest.ts) for exactly this file.
 */
export class BlockListReader {
  /** The first MAX_LIST_PROBLEMS problems; the rest are only counted. */
  readonly problems: VerifyProblem[] = [];
  problemsOmitted = 0;
  private readonly hash;
  private pending = '';
  private pendingOffset = 0;
  private position = 0;
  private lastOffset = -1;
  private eof = false;
  private readonly buffer = Buffer.allocUnsafe(READ_SIZE);
  private readonly line: RegExp;

  private constructor(
    private readonly handle: FileHandle,
    private readonly file: string,
    private readonly disk: string,
    private readonly capacity: number,
    private readonly blockHash: BlockHash,
  ) {
    this.hash = createHash('sha256').update(digestPreamble(capacity, blockHash));
    this.line = lineOf(blockHash);
  }

  /** Opens the list of `blockHash` lines; throws as fs does (ENOENT when it is missing). */
  static async open(path: string, file: string, disk: string, capacity: number, blockHash: BlockHash): Promise<BlockListReader> {
    return new BlockListReader(await open(path, 'r'), file, disk, capacity, blockHash);
  }

  async next(): Promise<ListedBlock | undefined> {
    for (;;) {
      const newline = this.pending.indexOf('\n');
      if (newline < 0 && !this.eof) {
        await this.fill();
        continue;
      }
      if (newline < 0 && this.pending === '') return undefined;
      const line = newline < 0 ? this.pending : this.pending.slice(0, newline);
      const lineOffset = this.pendingOffset;
      this.pending = newline < 0 ? '' : this.pending.slice(newline + 1);
      this.pendingOffset += line.length + (newline < 0 ? 0 : 1);
      if (newline < 0) this.problem(lineOffset, 'the last line has no newline');
      const listed = this.check(line, lineOffset);
      if (listed) return listed;
    }
  }

  /** `sha256:<hex>` over the preamble and every byte of the file; call after next() returned undefined. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async fill(): Promise<void> {
    const { bytesRead } = await this.handle.read(this.buffer, 0, READ_SIZE, this.position);
    if (bytesRead === 0) {
      this.eof = true;
      return;
    }
    const chunk = this.buffer.subarray(0, bytesRead);
    this.hash.update(chunk);
    this.position += bytesRead;
    // latin1 keeps one character per byte, so string lengths are byte offsets whatever the file holds.
    this.pending += chunk.toString('latin1');
  }

  private check(line: string, lineOffset: number): ListedBlock | undefined {
    const match = this.line.exec(line);
    if (!match) {
      this.problem(lineOffset, `line is not "<offset> <${this.blockHash}>": ${JSON.stringify(line.slice(0, 100))}`);
      return undefined;
    }
    const diskOffset = Number(match[1]);
    if (diskOffset % DIGEST_BLOCK !== 0 || diskOffset >= this.capacity) {
      this.problem(lineOffset, `offset ${diskOffset} is not the start of a 1 MiB block of a ${this.capacity}-byte disk`);
      return undefined;
    }
    if (diskOffset <= this.lastOffset) {
      this.problem(lineOffset, `offset ${diskOffset} comes after ${this.lastOffset}: the list must be in increasing order`);
      return undefined;
    }
    this.lastOffset = diskOffset;
    return { diskOffset, hex: match[2]!, lineOffset };
  }

  private problem(offset: number, message: string): void {
    if (this.problems.length >= MAX_LIST_PROBLEMS) {
      this.problemsOmitted++;
      return;
    }
    this.problems.push({ kind: 'block-list', file: this.file, offset, disk: this.disk, message });
  }
}
