// The sparse file standing in for a datastore's LUN: positioned synchronous reads and writes on one fd.

import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

export class LunImage {
  private fd: number;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates (or wipes) the image as a sparse file of the given size: every byte reads as zero. */
  static create(path: string, capacity: number): LunImage {
    const fd = openSync(path, 'w+');
    ftruncateSync(fd, capacity);
    return new LunImage(path, fd);
  }

  static open(path: string): LunImage {
    return new LunImage(path, openSync(path, 'r+'));
  }

  /** Fills buf[offset, offset+length) from the LUN; bytes past the image's end read as zeros. */
  read(buf: Uint8Array, offset: number, length: number, lunPosition: number): void {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, offset + done, length - done, lunPosition + done);
      if (n === 0) {
        buf.fill(0, offset + done, offset + length);
        return;
      }
      done += n;
    }
  }

  write(data: Uint8Array, lunPosition: number): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, lunPosition + done);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
