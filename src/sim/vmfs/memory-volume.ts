// The small in-memory tree holding everything outside /vmfs/volumes (/tmp, /etc, /bin, ...).

import type { RandomAccessFile } from '../../formats/random-access.js';
import { SimVfsError } from './errors.js';
import { childNames, entryKind, isWithin } from './paths.js';
import type { FileStat } from './types.js';
import type { Volume } from './volume.js';

interface MemoryFile {
  bytes: Buffer;
  size: number;
  mtimeMs: number;
  removed: boolean;
}

export class MemoryVolume implements Volume {
  private readonly files = new Map<string, MemoryFile>();
  private readonly dirs = new Map<string, number>([['', Date.now()]]);

  kind(rel: string): 'file' | 'dir' | undefined {
    return entryKind(this.files, this.dirs, rel);
  }

  children(rel: string): string[] {
    return childNames(this.files, this.dirs, rel);
  }

  stat(rel: string): FileStat | undefined {
    const file = this.files.get(rel);
    if (file) return { type: 'file', size: file.size, allocated: file.size, mtimeMs: file.mtimeMs, thin: false };
    const mtimeMs = this.dirs.get(rel);
    return mtimeMs === undefined ? undefined : { type: 'dir', size: 0, allocated: 0, mtimeMs, thin: false };
  }

  makeDir(rel: string): void {
    this.dirs.set(rel, Date.now());
  }

  createFile(rel: string, size: number): void {
    const old = this.files.get(rel);
    if (old) old.removed = true;
    this.files.set(rel, { bytes: Buffer.alloc(size), size, mtimeMs: Date.now(), removed: false });
  }

  removeFile(rel: string): void {
    const file = this.files.get(rel);
    if (file) file.removed = true;
    this.files.delete(rel);
  }

  removeDir(rel: string): void {
    this.dirs.delete(rel);
  }

  move(from: string, to: string): void {
    const retarget = (path: string) => to + path.slice(from.length);
    for (const [path, file] of [...this.files]) {
      if (!isWithin(path, from)) continue;
      this.files.delete(path);
      this.files.set(retarget(path), file);
    }
    for (const [path, mtimeMs] of [...this.dirs]) {
      if (path === '' || !isWithin(path, from)) continue;
      this.dirs.delete(path);
      this.dirs.set(retarget(path), mtimeMs);
    }
  }

  open(rel: string): RandomAccessFile {
    const file = this.files.get(rel);
    const display = '/' + rel;
    if (!file) throw new SimVfsError('ENOENT', display);
    const live = () => {
      if (file.removed) throw new SimVfsError('ENOENT', display, 'File was removed');
      return file;
    };
    return {
      size: () => live().size,
      read: (buf, position) => {
        const f = live();
        if (position >= f.size) return 0;
        const n = Math.min(buf.length, f.size - position);
        buf.set(f.bytes.subarray(position, position + n));
        return n;
      },
      write: (buf, position) => {
        const f = live();
        const end = position + buf.length;
        if (end > f.size) setSize(f, end);
        f.bytes.set(buf, position);
        f.mtimeMs = Date.now();
      },
      truncate: (size) => {
        if (!Number.isSafeInteger(size) || size < 0) throw new SimVfsError('EINVAL', display, `Bad size ${size}`);
        setSize(live(), size);
      },
    };
  }
}

function setSize(file: MemoryFile, size: number): void {
  if (size > file.bytes.length) {
    const grown = Buffer.alloc(Math.max(size, file.bytes.length * 2));
    file.bytes.copy(grown, 0, 0, file.size);
    file.bytes = grown;
  } else if (size < file.size) {
    file.bytes.fill(0, size, file.size);
  }
  file.size = size;
  file.mtimeMs = Date.now();
}
