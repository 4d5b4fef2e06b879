// A fixed-size RandomAccessFile made of consecutive flat extents (FLAT/VMFS files at an offset, or ZERO).
import type { RandomAccessFile } from './random-access.js';

export interface FlatExtentPart {
  /** Size of this extent in bytes. */
  length: number;
  /** Backing file; absent for a ZERO extent (reads zeros, refuses writes). */
  file?: RandomAccessFile;
  /** Where the extent starts inside its file, in bytes. */
  fileOffset?: number;
}

export class FlatExtents implements RandomAccessFile {
  private readonly starts: number[] = [];
  private readonly total: number;

  constructor(private readonly parts: FlatExtentPart[]) {
    let start = 0;
    for (const part of parts) {
      this.starts.push(start);
      start += part.length;
    }
    this.total = start;
  }

  size(): number {
    return this.total;
  }

  private forEachPart(
    position: number,
    length: number,
    visit: (part: FlatExtentPart, partOffset: number, bufOffset: number, count: number) => void,
  ): number {
    let done = 0;
    for (let i = 0; i < this.parts.length && done < length; i++) {
      const part = this.parts[i]!;
      const start = this.starts[i]!;
      const at = position + done;
      if (at >= start + part.length) continue;
      const count = Math.min(length - done, start + part.length - at);
      visit(part, at - start, done, count);
      done += count;
    }
    return done;
  }

  read(buf: Uint8Array, position: number): number {
    const length = Math.max(0, Math.min(buf.length, this.total - position));
    return this.forEachPart(position, length, (part, partOffset, bufOffset, count) => {
      const target = buf.subarray(bufOffset, bufOffset + count);
      const got = part.file ? part.file.read(target, (part.fileOffset ?? 0) + partOffset) : 0;
      if (got < count) target.fill(0, got);
    });
  }

  write(buf: Uint8Array, position: number): void {
    if (position < 0 || position + buf.length > this.total) {
      throw new RangeError(`write ${position}+${buf.length} beyond flat extents of ${this.total} bytes`);
    }
    this.forEachPart(position, buf.length, (part, partOffset, bufOffset, count) => {
      if (!part.file) throw new Error('cannot write to a ZERO extent');
      part.file.write(buf.subarray(bufOffset, bufOffset + count), (part.fileOffset ?? 0) + partOffset);
    });
  }

  truncate(size: number): void {
    if (size !== this.total) throw new Error('flat extents have a fixed size');
  }
}
