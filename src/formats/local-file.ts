// RandomAccessFile over a local file descriptor (synchronous node fs calls).
import fs from 'node:fs';
import type { RandomAccessFile } from './random-access.js';

export interface LocalFileOptions {
  /** Create the file if it does not exist (never truncates an existing one). */
  create?: boolean;
  readOnly?: boolean;
}

export interface LocalFile extends RandomAccessFile {
  readonly path: string;
  close(): void;
}

export function openLocalFile(path: string, options: LocalFileOptions = {}): LocalFile {
  const { O_RDONLY, O_RDWR, O_CREAT } = fs.constants;
  const flags = options.readOnly ? O_RDONLY : O_RDWR | (options.create ? O_CREAT : 0);
  let fd: number | undefined = fs.openSync(path, flags, 0o644);

  const openFd = (): number => {
    if (fd === undefined) throw new Error(`file already closed: ${path}`);
    return fd;
  };

  return {
    path,
    size: () => fs.fstatSync(openFd()).size,
    read(buf, position) {
      const handle = openFd();
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(handle, buf, done, buf.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    write(buf, position) {
      const handle = openFd();
      let done = 0;
      while (done < buf.length) {
        done += fs.writeSync(handle, buf, done, buf.length - done, position + done);
      }
    },
    truncate: (size) => fs.ftruncateSync(openFd(), size),
    close() {
      if (fd === undefined) return;
      fs.closeSync(fd);
      fd = undefined;
    },
  };
}
