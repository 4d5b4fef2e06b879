// VMware COWD sparse delta ("vmfsSparse" snapshot extent): create, open, read, write, list allocated ranges.
//
// The header and the grain map are in cowd-header.ts and cowd-grain-map.ts. qemu reads numGDEntries
// from the header as its L1 size, uses a fixed L2 size of 4096 and grainSize as cluster size, takes
// the disk size from numSectors (not the descriptor), and appends new grains at the end of the file
// ignoring freeSector; so openCowd trusts max(freeSector, file size) and this module keeps the file
// exactly freeSector sectors long. ESX writes grainSize 1 (one sector per grain, so guest writes never
// copy from the parent).
import { CowdGrainMap } from './cowd-grain-map.js';
import {
  COWD_GT_ENTRIES,
  COWD_HEADER_SECTORS,
  encodeHeader,
  readHeader,
  SECTOR,
  writeFreeSectorField,
  type CowdHeader,
} from './cowd-header.js';
import type { RandomAccessFile } from './random-access.js';
import { pushRange, type ByteRange, type ParentReader, type SparseDelta } from './sparse-delta-types.js';

export { COWD_GT_ENTRIES, COWD_HEADER_SECTORS, COWD_MAGIC, isCowd } from './cowd-header.js';
export type { ByteRange, ParentReader } from './sparse-delta-types.js';

export interface CowdCreateOptions {
  capacitySectors: number;
  /** Sectors per grain; ESX uses 1. */
  grainSectors?: number;
  /** Stored in the header's child union; the descriptor's parentFileNameHint is what readers use. */
  parentFileName?: string;
}

/** One piece of a request: a virtual byte range and, if allocated, where it lives in the file. */
interface Piece {
  offset: number;
  length: number;
  fileOffset: number;
}

/** Bytes of source to put at fileOffset; neighbours from the same source that line up are merged. */
interface PlannedWrite {
  source: Uint8Array;
  sourceOffset: number;
  length: number;
  fileOffset: number;
}

function addWrite(writes: PlannedWrite[], source: Uint8Array, sourceOffset: number, length: number, fileOffset: number): void {
  const last = writes[writes.length - 1];
  if (
    last &&
    last.source === source &&
    last.sourceOffset + last.length === sourceOffset &&
    last.fileOffset + last.length === fileOffset
  ) {
    last.length += length;
    return;
  }
  writes.push({ source, sourceOffset, length, fileOffset });
}

export class CowdDisk implements SparseDelta {
  readonly format = 'vmfsSparse' as const;
  readonly capacity: number;
  readonly capacitySectors: number;
  readonly grainSectors: number;
  readonly grainBytes: number;
  readonly parentFileName: string | undefined;
  private readonly map: CowdGrainMap;
  private nextFreeSector: number;

  constructor(
    private readonly file: RandomAccessFile,
    header: CowdHeader,
  ) {
    this.capacitySectors = header.capacitySectors;
    this.capacity = header.capacitySectors * SECTOR;
    this.grainSectors = header.grainSectors;
    this.grainBytes = header.grainSectors * SECTOR;
    this.parentFileName = header.parentFileName;
    this.map = new CowdGrainMap(file, header.gdOffset, header.gdEntries);
    this.nextFreeSector = Math.max(header.freeSector, Math.ceil(file.size() / SECTOR));
  }

  get freeSector(): number {
    return this.nextFreeSector;
  }

  private checkRange(position: number, length: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || length < 0 || position + length > this.capacity) {
      throw new RangeError(`range ${position}+${length} outside COWD disk of ${this.capacity} bytes`);
    }
  }

  /** Splits [position, position+length) at grain boundaries, merging neighbours that are contiguous in the file too. */
  private pieces(position: number, length: number): Piece[] {
    this.checkRange(position, length);
    const pieces: Piece[] = [];
    const end = position + length;
    let cursor = position;
    while (cursor < end) {
      const grain = Math.floor(cursor / this.grainBytes);
      const tableIndex = Math.floor(grain / COWD_GT_ENTRIES);
      if (this.map.tableAbsent(tableIndex)) {
        const tableEnd = Math.min(end, (tableIndex + 1) * COWD_GT_ENTRIES * this.grainBytes);
        this.addPiece(pieces, cursor, tableEnd - cursor, -1);
        cursor = tableEnd;
        continue;
      }
      const grainStart = grain * this.grainBytes;
      const pieceEnd = Math.min(end, grainStart + this.grainBytes);
      const sector = this.map.grainSector(grain);
      const fileOffset = sector === 0 ? -1 : sector * SECTOR + (cursor - grainStart);
      this.addPiece(pieces, cursor, pieceEnd - cursor, fileOffset);
      cursor = pieceEnd;
    }
    return pieces;
  }

  private addPiece(pieces: Piece[], offset: number, length: number, fileOffset: number): void {
    const last = pieces[pieces.length - 1];
    if (last && (last.fileOffset < 0) === (fileOffset < 0)) {
      if (fileOffset < 0 || last.fileOffset + last.length === fileOffset) {
        last.length += length;
        return;
      }
    }
    pieces.push({ offset, length, fileOffset });
  }

  isAllocated(position: number): boolean {
    this.checkRange(position, 1);
    return this.map.grainSector(Math.floor(position / this.grainBytes)) !== 0;
  }

  /** The parts of [position, position+length) held by this delta, merged, in order. */
  readAllocated(position: number, length: number): ByteRange[] {
    const ranges: ByteRange[] = [];
    for (const piece of this.pieces(position, length)) {
      if (piece.fileOffset >= 0) pushRange(ranges, piece.offset, piece.length);
    }
    return ranges;
  }

  /** Fills buf from this delta alone (unallocated parts read as zeros); returns the allocated ranges. */
  read(buf: Uint8Array, position: number): ByteRange[] {
    const ranges: ByteRange[] = [];
    for (const piece of this.pieces(position, buf.length)) {
      const target = buf.subarray(piece.offset - position, piece.offset - position + piece.length);
      if (piece.fileOffset < 0) {
        target.fill(0);
        continue;
      }
      const got = this.file.read(target, piece.fileOffset);
      if (got < target.length) target.fill(0, got);
      pushRange(ranges, piece.offset, piece.length);
    }
    return ranges;
  }

  /** Why this delta's grain map points outside its file (truncated, or not assembled right), or undefined. */
  layoutProblem(): string | undefined {
    return this.map.problemWithin(this.file.size(), this.grainBytes);
  }

  /** Every virtual byte range held by this delta, merged, in order. */
  allocatedExtents(): ByteRange[] {
    const ranges: ByteRange[] = [];
    const tableSpan = COWD_GT_ENTRIES * this.grainBytes;
    for (let tableIndex = 0; tableIndex < this.map.tableCount; tableIndex++) {
      const table = this.map.table(tableIndex);
      if (!table) continue;
      for (let entry = 0; entry < COWD_GT_ENTRIES; entry++) {
        if (table[entry] === 0) continue;
        const offset = tableIndex * tableSpan + entry * this.grainBytes;
        if (offset >= this.capacity) break;
        pushRange(ranges, offset, Math.min(this.grainBytes, this.capacity - offset));
      }
    }
    return ranges;
  }

  private writeFreeSector(sector: number): void {
    writeFreeSectorField(this.file, sector);
    this.nextFreeSector = sector;
  }

  private allocateGrainTable(tableIndex: number): void {
    const sector = this.nextFreeSector;
    this.writeFreeSector(sector + this.map.addTable(tableIndex, sector));
  }

  /**
   * Writes buf at position. Grains not yet in this delta are allocated at the end of the file;
   * the parts of a newly allocated grain that buf does not cover come from parent (zeros without one).
   * Order on disk: grain tables, then grain data, then grain-table entries, then freeSector, so
   * the file is a valid delta after each step.
   */
  write(buf: Uint8Array, position: number, parent?: ParentReader): void {
    this.checkRange(position, buf.length);
    if (buf.length === 0) return;
    const end = position + buf.length;
    const firstGrain = Math.floor(position / this.grainBytes);
    const lastGrain = Math.floor((end - 1) / this.grainBytes);
    const lastTable = Math.floor(lastGrain / COWD_GT_ENTRIES);
    for (let t = Math.floor(firstGrain / COWD_GT_ENTRIES); t <= lastTable; t++) {
      if (this.map.tableAbsent(t)) this.allocateGrainTable(t);
    }

    const newGrains: number[] = [];
    let freeSector = this.nextFreeSector;
    const writes: PlannedWrite[] = [];
    for (let grain = firstGrain; grain <= lastGrain; grain++) {
      const grainStart = grain * this.grainBytes;
      const from = Math.max(position, grainStart);
      const to = Math.min(end, grainStart + this.grainBytes);
      const sector = this.map.grainSector(grain);
      if (sector !== 0) {
        addWrite(writes, buf, from - position, to - from, sector * SECTOR + (from - grainStart));
        continue;
      }
      newGrains.push(grain);
      const fileOffset = freeSector * SECTOR;
      freeSector += this.grainSectors;
      if (to - from === this.grainBytes) {
        addWrite(writes, buf, from - position, to - from, fileOffset);
      } else {
        const whole = new Uint8Array(this.grainBytes);
        parent?.read(whole, grainStart);
        whole.set(buf.subarray(from - position, to - position), from - grainStart);
        writes.push({ source: whole, sourceOffset: 0, length: this.grainBytes, fileOffset });
      }
    }
    for (const planned of writes) {
      this.file.write(planned.source.subarray(planned.sourceOffset, planned.sourceOffset + planned.length), planned.fileOffset);
    }
    if (newGrains.length === 0) return;
    this.map.recordGrains(newGrains, this.nextFreeSector, this.grainSectors);
    this.writeFreeSector(freeSector);
  }
}

/** Writes a new, empty COWD delta into file (which should be empty) and opens it. */
export function createCowd(file: RandomAccessFile, options: CowdCreateOptions): CowdDisk {
  const grainSectors = options.grainSectors ?? 1;
  const { capacitySectors } = options;
  if (!Number.isInteger(capacitySectors) || capacitySectors <= 0 || capacitySectors > 0xffffffff) {
    throw new RangeError(`COWD capacity must be 1..2^32-1 sectors, got ${capacitySectors}`);
  }
  if (!Number.isInteger(grainSectors) || grainSectors < 1) throw new RangeError(`bad grain size ${grainSectors}`);
  const gdEntries = Math.ceil(capacitySectors / (COWD_GT_ENTRIES * grainSectors));
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const header: CowdHeader = {
    capacitySectors,
    grainSectors,
    gdOffset: COWD_HEADER_SECTORS,
    gdEntries,
    freeSector: COWD_HEADER_SECTORS + gdSectors,
  };
  if (options.parentFileName !== undefined) header.parentFileName = options.parentFileName;
  file.truncate(0);
  file.write(encodeHeader(header), 0);
  file.truncate(header.freeSector * SECTOR);
  return new CowdDisk(file, header);
}

export function openCowd(file: RandomAccessFile): CowdDisk {
  return new CowdDisk(file, readHeader(file));
}
