// One simulated VMFS datastore: a sparse LUN image holding files in fixed-size blocks, plus its allocation map.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RandomAccessFile } from '../../formats/random-access.js';
import { BlockAllocator } from './allocator.js';
import { SimVfsError } from './errors.js';
import { LunImage } from './lun-image.js';
import { allocatedBlocks, blockCountFor, computeBlockMap, type FileEntry } from './file-entry.js';
import { METADATA_FORMAT, loadMetadata, saveMetadata, type DatastoreMetadata } from './metadata.js';
import { childNames, entryKind, isWithin, splitRelative } from './paths.js';
import type { BlockExtent, DatastoreInfo, FileStat } from './types.js';
import type { Volume } from './volume.js';

export const DEFAULT_BLOCK_SIZE = 1024 * 1024;
/** Bytes at the start of every LUN kept for the volume header, so file data never starts at offset 0. */
const METADATA_AREA_BYTES = 4 * 1024 * 1024;

export interface DatastoreOptions {
  stateDir: string;
  name: string;
  capacity: number;
  blockSize?: number;
  uuid: string;
  lvid: string;
  /** Seed of the block allocator; the same seed and the same operations give the same layout. */
  seed: number;
}

export class Datastore implements Volume {
  readonly name: string;
  readonly uuid: string;
  readonly lvid: string;
  readonly blockSize: number;
  readonly capacity: number;
  readonly lunPath: string;
  readonly metadataPath: string;
  /** Canonical mount path, /vmfs/volumes/<uuid>, used in error messages. */
  readonly mountPath: string;
  private readonly reservedBlocks: number;
  private readonly allocator: BlockAllocator;
  private readonly files = new Map<string, FileEntry>();
  private readonly dirs = new Map<string, number>([['', Date.now()]]);
  private readonly lun: LunImage;
  private full = false;
  /** mtimes changed since the map was last written. */
  private dirty = false;

  private constructor(opts: DatastoreOptions, existing: DatastoreMetadata | undefined) {
    this.name = opts.name;
    this.uuid = existing?.uuid ?? opts.uuid;
    this.lvid = existing?.lvid ?? opts.lvid;
    this.blockSize = existing?.blockSize ?? opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.capacity = existing?.capacity ?? opts.capacity;
    this.lunPath = join(opts.stateDir, `${opts.name}.lun`);
    this.metadataPath = join(opts.stateDir, `${opts.name}.vmfs.json`);
    this.mountPath = `/vmfs/volumes/${this.uuid}`;
    const totalBlocks = Math.floor(this.capacity / this.blockSize);
    this.reservedBlocks = existing?.reservedBlocks ?? Math.max(1, Math.ceil(METADATA_AREA_BYTES / this.blockSize));
    if (!Number.isInteger(this.blockSize) || this.blockSize < 512 || totalBlocks <= this.reservedBlocks) {
      throw new Error(`datastore ${opts.name}: capacity ${this.capacity} is too small for block size ${this.blockSize}`);
    }
    this.allocator = new BlockAllocator(totalBlocks, this.reservedBlocks, opts.seed);
    if (existing) {
      this.lun = LunImage.open(this.lunPath);
      this.load(existing);
    } else {
      this.lun = LunImage.create(this.lunPath, this.capacity);
      this.writeHeader();
      this.persist();
    }
  }

  /** Reopens the datastore from its allocation map, or creates a fresh LUN image when there is none. */
  static open(opts: DatastoreOptions): Datastore {
    const metadataPath = join(opts.stateDir, `${opts.name}.vmfs.json`);
    return new Datastore(opts, existsSync(metadataPath) ? loadMetadata(metadataPath) : undefined);
  }

  info(): DatastoreInfo {
    return {
      name: this.name,
      uuid: this.uuid,
      lvid: this.lvid,
      lunPath: this.lunPath,
      blockSize: this.blockSize,
      capacity: this.capacity,
      free: this.full ? 0 : this.allocator.free * this.blockSize,
    };
  }

  setFull(full: boolean): void {
    this.full = full;
  }

  kind(rel: string): 'file' | 'dir' | undefined {
    return entryKind(this.files, this.dirs, rel);
  }

  children(rel: string): string[] {
    return childNames(this.files, this.dirs, rel);
  }

  stat(rel: string): FileStat | undefined {
    const entry = this.files.get(rel);
    if (entry) {
      return {
        type: 'file',
        size: entry.size,
        allocated: allocatedBlocks(entry) * this.blockSize,
        mtimeMs: entry.mtimeMs,
        thin: entry.thin,
      };
    }
    const mtimeMs = this.dirs.get(rel);
    return mtimeMs === undefined ? undefined : { type: 'dir', size: 0, allocated: 0, mtimeMs, thin: false };
  }

  makeDir(rel: string): void {
    this.dirs.set(rel, Date.now());
    this.touchParent(rel);
    this.persist();
  }

  createFile(rel: string, size: number, thin: boolean): void {
    const old = this.files.get(rel);
    if (old) this.releaseEntry(old);
    this.files.delete(rel);
    const entry: FileEntry = {
      size,
      thin,
      blocks: new Array<number | null>(blockCountFor(size, this.blockSize)).fill(null),
      unzeroed: new Set(),
      mtimeMs: Date.now(),
      removed: false,
    };
    try {
      if (!thin) this.ensureAllocated(entry, 0, entry.blocks.length - 1, this.displayPath(rel));
    } catch (err) {
      if (old) this.persist();
      throw err;
    }
    this.files.set(rel, entry);
    this.touchParent(rel);
    this.persist();
  }

  removeFile(rel: string): void {
    const entry = this.files.get(rel);
    if (!entry) return;
    this.releaseEntry(entry);
    this.files.delete(rel);
    this.touchParent(rel);
    this.persist();
  }

  removeDir(rel: string): void {
    this.dirs.delete(rel);
    this.touchParent(rel);
    this.persist();
  }

  move(from: string, to: string): void {
    const retarget = (path: string) => to + path.slice(from.length);
    for (const [path, entry] of [...this.files]) {
      if (!isWithin(path, from)) continue;
      this.files.delete(path);
      this.files.set(retarget(path), entry);
    }
    for (const [path, mtimeMs] of [...this.dirs]) {
      if (path === '' || !isWithin(path, from)) continue;
      this.dirs.delete(path);
      this.dirs.set(retarget(path), mtimeMs);
    }
    this.touchParent(from);
    this.touchParent(to);
    this.persist();
  }

  open(rel: string): RandomAccessFile {
    const entry = this.files.get(rel);
    if (!entry) throw new SimVfsError('ENOENT', this.displayPath(rel));
    const display = this.displayPath(rel);
    const live = () => {
      if (entry.removed) throw new SimVfsError('ENOENT', display, 'File was removed');
      return entry;
    };
    return {
      size: () => live().size,
      read: (buf, position) => this.readEntry(live(), buf, position),
      write: (buf, position) => this.writeEntry(live(), buf, position, display),
      truncate: (size) => this.truncateEntry(live(), size, display),
    };
  }

  blockMap(rel: string): BlockExtent[] {
    const entry = this.files.get(rel);
    if (!entry) throw new SimVfsError('ENOENT', this.displayPath(rel));
    return computeBlockMap(entry, this.blockSize);
  }

  /** Writes the allocation map if only mtimes changed since the last write. */
  flush(): void {
    if (this.dirty) this.persist();
  }

  close(): void {
    this.flush();
    this.lun.close();
  }

  private readEntry(entry: FileEntry, buf: Uint8Array, position: number): number {
    if (position >= entry.size) return 0;
    const total = Math.min(buf.length, entry.size - position);
    const bs = this.blockSize;
    let done = 0;
    while (done < total) {
      const index = Math.floor((position + done) / bs);
      const inBlock = position + done - index * bs;
      const block = entry.blocks[index] ?? null;
      let length = Math.min(bs - inBlock, total - done);
      if (block === null || entry.unzeroed.has(index)) {
        buf.fill(0, done, done + length);
      } else {
        let next = index + 1;
        while (done + length < total && entry.blocks[next] === block + (next - index) && !entry.unzeroed.has(next)) {
          length += Math.min(bs, total - done - length);
          next++;
        }
        this.lun.read(buf, done, length, block * bs + inBlock);
      }
      done += length;
    }
    return total;
  }

  private writeEntry(entry: FileEntry, data: Uint8Array, position: number, display: string): void {
    if (data.length === 0) return;
    const bs = this.blockSize;
    const end = position + data.length;
    const lastIndex = Math.floor((end - 1) / bs);
    const firstIndex = Math.floor(position / bs);
    // A thick file has no holes below its block count, so only blocks past it can need allocating.
    const allocateFrom = entry.thin ? firstIndex : Math.min(firstIndex, entry.blocks.length);
    let structureChanged = this.ensureAllocated(entry, allocateFrom, lastIndex, display);
    let done = 0;
    while (done < data.length) {
      const index = Math.floor((position + done) / bs);
      const inBlock = position + done - index * bs;
      const length = Math.min(bs - inBlock, data.length - done);
      const blockStart = entry.blocks[index]! * bs;
      const piece = data.subarray(done, done + length);
      if (entry.unzeroed.has(index)) {
        if (length < bs) {
          const whole = Buffer.alloc(bs);
          whole.set(piece, inBlock);
          this.lun.write(whole, blockStart);
        } else {
          this.lun.write(piece, blockStart);
        }
        entry.unzeroed.delete(index);
        structureChanged = true;
      } else {
        this.lun.write(piece, blockStart + inBlock);
      }
      done += length;
    }
    if (end > entry.size) {
      entry.size = end;
      structureChanged = true;
    }
    entry.mtimeMs = Date.now();
    this.dirty = true;
    if (structureChanged) this.persist();
  }

  private truncateEntry(entry: FileEntry, size: number, display: string): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new SimVfsError('EINVAL', display, `Bad size ${size}`);
    if (size === entry.size) return;
    const bs = this.blockSize;
    const keep = blockCountFor(size, bs);
    if (size < entry.size) {
      const tailIndex = keep - 1;
      const tailBlock = tailIndex >= 0 ? entry.blocks[tailIndex] : null;
      if (size % bs !== 0 && tailBlock != null && !entry.unzeroed.has(tailIndex)) {
        const oldEndInBlock = Math.min(entry.size - tailIndex * bs, bs);
        this.lun.write(Buffer.alloc(oldEndInBlock - (size % bs)), tailBlock * bs + (size % bs));
      }
      for (let index = keep; index < entry.blocks.length; index++) {
        const block = entry.blocks[index];
        if (block != null) this.allocator.release(block);
        entry.unzeroed.delete(index);
      }
      entry.blocks.length = keep;
    } else if (entry.thin) {
      while (entry.blocks.length < keep) entry.blocks.push(null);
    } else {
      this.ensureAllocated(entry, entry.blocks.length, keep - 1, display);
    }
    entry.size = size;
    entry.mtimeMs = Date.now();
    this.persist();
  }

  /**
   * Gives every hole in file blocks [first, last] a LUN block, growing the block list as needed. Either all
   * succeed or nothing changes (ENOSPC). Reused blocks that still hold old data are marked unzeroed.
   */
  private ensureAllocated(entry: FileEntry, first: number, last: number, display: string): boolean {
    const oldLength = entry.blocks.length;
    while (entry.blocks.length <= last) entry.blocks.push(null);
    const holes: number[] = [];
    for (let index = Math.max(first, 0); index <= last; index++) if (entry.blocks[index] === null) holes.push(index);
    if (holes.length === 0) return entry.blocks.length !== oldLength;
    if (this.full || holes.length > this.allocator.free) {
      entry.blocks.length = oldLength;
      throw new SimVfsError('ENOSPC', display);
    }
    for (const index of holes) {
      const { block, stale } = this.allocator.allocate()!;
      entry.blocks[index] = block;
      if (stale) entry.unzeroed.add(index);
    }
    return true;
  }

  private releaseEntry(entry: FileEntry): void {
    for (const block of entry.blocks) if (block !== null) this.allocator.release(block);
    entry.removed = true;
  }

  private writeHeader(): void {
    const header = [
      'VCBMOUNTER-SIM VMFS volume header',
      `name=${this.name}`,
      `uuid=${this.uuid}`,
      `lvid=${this.lvid}`,
      `blockSize=${this.blockSize}`,
      `capacity=${this.capacity}`,
      `reservedBlocks=${this.reservedBlocks}`,
      '',
    ].join('\n');
    this.lun.write(Buffer.from(header), 0);
  }

  private touchParent(rel: string): void {
    const { parent } = splitRelative(rel);
    if (this.dirs.has(parent)) this.dirs.set(parent, Date.now());
  }

  private displayPath(rel: string): string {
    return rel === '' ? this.mountPath : `${this.mountPath}/${rel}`;
  }

  private load(metadata: DatastoreMetadata): void {
    this.allocator.importState(metadata.allocator);
    for (const dir of metadata.dirs) this.dirs.set(dir, metadata.mtimes[dir] ?? Date.now());
    this.dirs.set('', metadata.mtimes[''] ?? Date.now());
    for (const file of metadata.files) {
      const unzeroed = new Set<number>();
      file.unzeroed?.forEach((flag, index) => flag && unzeroed.add(index));
      for (const block of file.blocks) if (block !== null) this.allocator.claim(block);
      this.files.set(file.path, {
        size: file.size,
        thin: file.thin,
        blocks: file.blocks,
        unzeroed,
        mtimeMs: metadata.mtimes[file.path] ?? Date.now(),
        removed: false,
      });
    }
  }

  private persist(): void {
    const mtimes: Record<string, number> = {};
    for (const [path, mtimeMs] of this.dirs) mtimes[path] = mtimeMs;
    const files = [...this.files].map(([path, entry]) => {
      mtimes[path] = entry.mtimeMs;
      const persisted: DatastoreMetadata['files'][number] = {
        path,
        size: entry.size,
        thin: entry.thin,
        blocks: entry.blocks,
      };
      if (entry.unzeroed.size > 0) persisted.unzeroed = entry.blocks.map((_, index) => entry.unzeroed.has(index));
      return persisted;
    });
    saveMetadata(this.metadataPath, {
      format: METADATA_FORMAT,
      name: this.name,
      uuid: this.uuid,
      lvid: this.lvid,
      blockSize: this.blockSize,
      capacity: this.capacity,
      reservedBlocks: this.reservedBlocks,
      files,
      dirs: [...this.dirs.keys()].filter((dir) => dir !== ''),
      mtimes,
      allocator: this.allocator.exportState(),
    });
    this.dirty = false;
  }
}
