// One simulated VMFS datastore: a sparse LUN image holding files in fixed-size blocks, plus its allocation map.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RandomAccessFile } from '../../formats/random-access.js';
import { BlockAllocator } from './allocator.js';
import { SimVfsError } from './errors.js';
import { EntryBlocks } from './entry-blocks.js';
import { LunDevices, type ExtentPlace, type PartitionTableKind } from './lun-devices.js';
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
  /** How the LUN is laid out (default: the volume at byte 0 of one LUN). */
  partitionTable?: PartitionTableKind;
  /** Spans the volume over two LUNs: this many volume bytes on the first (a whole number of blocks). */
  spanAt?: number;
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
  private readonly lun: LunDevices;
  private readonly blocks: EntryBlocks;
  private full = false;
  private readonly layout: { partitionTable: PartitionTableKind; spanAt: number | undefined };
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
    const partitionTable = existing?.partitionTable ?? opts.partitionTable ?? 'none';
    const spanAt = existing?.spanAt ?? opts.spanAt;
    if (spanAt !== undefined && (spanAt % this.blockSize !== 0 || spanAt <= 0 || spanAt >= this.capacity)) {
      throw new Error(`datastore ${opts.name}: spanAt ${spanAt} must be a whole number of ${this.blockSize}-byte blocks inside the capacity`);
    }
    this.layout = { partitionTable, spanAt };
    const extentBytes = spanAt === undefined ? [this.capacity] : [spanAt, this.capacity - spanAt];
    const paths = extentBytes.map((_, i) => (i === 0 ? this.lunPath : join(opts.stateDir, `${opts.name}.${i + 1}.lun`)));
    this.lun = new LunDevices(paths, { partitionTable, extentBytes }, !existing);
    this.blocks = new EntryBlocks(this.lun, this.allocator, this.blockSize, () => this.full);
    if (existing) {
      this.load(existing);
    } else {
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
      extents: this.lun.extents.map((e) => ({ ...e })),
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
    if (old) this.blocks.release(old);
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
      if (!thin) this.blocks.ensureAllocated(entry, 0, entry.blocks.length - 1, this.displayPath(rel));
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
    this.blocks.release(entry);
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
      read: (buf, position) => this.blocks.read(live(), buf, position),
      write: (buf, position) => {
        if (buf.length === 0) return;
        const changed = this.blocks.write(live(), buf, position, display);
        entry.mtimeMs = Date.now();
        this.dirty = true;
        if (changed) this.persist();
      },
      truncate: (size) => {
        if (!this.blocks.truncate(live(), size, display)) return;
        entry.mtimeMs = Date.now();
        this.persist();
      },
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
      partitionTable: this.layout.partitionTable,
      ...(this.layout.spanAt !== undefined ? { spanAt: this.layout.spanAt } : {}),
      files,
      dirs: [...this.dirs.keys()].filter((dir) => dir !== ''),
      mtimes,
      allocator: this.allocator.exportState(),
    });
    this.dirty = false;
  }
}
