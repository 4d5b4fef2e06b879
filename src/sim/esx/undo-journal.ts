// Remembers what a multi-file change overwrote, so a change that fails part-way (a full datastore) can be put back exactly.

import type { RandomAccessFile } from '../../formats/random-access.js';
import type { Vfs } from '../vmfs/types.js';

interface Overwrite {
  file: RandomAccessFile;
  position: number;
  old: Buffer;
}

/**
 * Files opened through the journal only ever grow or change in place; a write that fails changes nothing
 * (the datastore allocates all of a write's blocks or none). So undo is: put every overwritten byte back,
 * newest first, then cut each file back to its first-seen length. Neither step needs a new block, so undo
 * cannot itself run out of space.
 */
export class UndoJournal {
  private readonly overwrites: Overwrite[] = [];
  private readonly sizes = new Map<string, number>();
  /** Files rewritten shorter: cut once the change is kept, since cutting would free blocks undo may need. */
  private readonly cuts = new Map<string, number>();

  constructor(private readonly vfs: Vfs) {}

  /** The file at path; every write through it is journaled, truncate is refused (undo could not restore it for sure). */
  open(path: string): RandomAccessFile {
    const file = this.vfs.open(path);
    if (!this.sizes.has(path)) this.sizes.set(path, file.size());
    const original = this.sizes.get(path)!;
    return {
      size: () => file.size(),
      read: (buf, position) => file.read(buf, position),
      write: (buf, position) => {
        const old = Buffer.alloc(Math.max(0, Math.min(buf.length, original - position)));
        if (old.length > 0) file.read(old, position);
        file.write(buf, position);
        if (old.length > 0) this.overwrites.push({ file, position, old });
      },
      truncate: () => {
        throw new Error(`${path}: truncate inside a journaled change`);
      },
    };
  }

  /** Replaces a small file's content in place (no moment with the file empty); a shorter content is cut at keep(). */
  rewrite(path: string, content: string): void {
    const bytes = Buffer.from(content, 'utf8');
    this.open(path).write(bytes, 0);
    const size = this.vfs.stat(path)!.size;
    if (bytes.length < size) this.cuts.set(path, bytes.length);
    else this.cuts.delete(path);
  }

  /** The change stays: files rewritten shorter lose their stale tails. */
  keep(): void {
    for (const [path, size] of this.cuts) this.vfs.open(path).truncate(size);
    this.cuts.clear();
    this.overwrites.length = 0;
  }

  /** Puts every journaled file back as it was. */
  undo(): void {
    for (const { file, position, old } of this.overwrites.reverse()) file.write(old, position);
    for (const [path, size] of this.sizes) {
      const file = this.vfs.open(path);
      if (file.size() > size) file.truncate(size);
    }
    this.overwrites.length = 0;
    this.cuts.clear();
  }
}
