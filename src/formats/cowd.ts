// VMware COWD sparse delta ("vmfsSparse" snapshot extent): create, read, write, list allocated ranges.
//
// On-disk layout (little-endian uint32 fields; offsets in bytes; "sectors" are 512 bytes):
//   0 magic "COWD"   4 version (1)   8 flags (3)   12 numSectors   16 grainSize (sectors)
//   20 gdOffset (sectors)   24 numGDEntries   28 freeSector (first unused sector)
//   32 union: root disk {cylinders, heads, sectors} | child {parentFileName[1024], parentGeneration}
//   1060 generation   1064 name[60]   1124 description[512]   1636 savedGeneration
//   1640 reserved[8]   1648 uncleanShutdown   1652..2048 padding      (header = 4 sectors)
// The grain directory (GD) at gdOffset holds numGDEntries sector offsets of grain tables (GT);
// each GT holds 4096 sector offsets of grains; 0 means "not in this delta, read the parent".
// qemu reads numGDEntries from the header as its L1 size, uses a fixed L2 size of 4096 and
// grainSize as cluster size, takes the disk size from numSectors (not the descriptor), and
// appends new grains at the end of the file ignoring freeSector; so openCowd trusts
// max(freeSector, file size) and this module keeps the file exactly freeSector sectors long.
// ESX writes grainSize 1 (one sector per grain, so guest writes never copy from the parent).
import type { RandomAccessFile } from './random-access.js';

export const COWD_MAGIC = 'COWD';
export const COWD_HEADER_SECTORS = 4;
export const COWD_GT_ENTRIES = 4096;
const SECTOR = 512;
const GT_BYTES = COWD_GT_ENTRIES * 4;
const PARENT_NAME_BYTES = 1024;
const FREE_SECTOR_OFFSET = 28;

export interface ByteRange {
  offset: number;
  length: number;
}

/** Where a partial-grain write gets the bytes it does not overwrite. */
export interface ParentReader {
  read(buf: Uint8Array, position: number): void;
}

export interface CowdCreateOptions {
  capacitySectors: number;
  /** Sectors per grain; ESX uses 1. */
  grainSectors?: number;
  /** Stored in the header's child union; the descriptor's parentFileNameHint is what readers use. */
  parentFileName?: string;
}

interface CowdHeader {
  capacitySectors: number;
  grainSectors: number;
  gdOffset: number;
  gdEntries: number;
  freeSector: number;
  parentFileName?: string;
}

function readHeader(file: RandomAccessFile): CowdHeader {
  const raw = new Uint8Array(COWD_HEADER_SECTORS * SECTOR);
  const got = file.read(raw, 0);
  const magic = Buffer.from(raw.subarray(0, 4)).toString('latin1');
  if (magic !== COWD_MAGIC) throw new Error(`not a COWD sparse extent (magic ${JSON.stringify(magic)})`);
  if (got < 32) throw new Error('COWD file too short for its header');
  const view = new DataView(raw.buffer);
  const version = view.getUint32(4, true);
  if (version !== 1) throw new Error(`unsupported COWD version ${version}`);
  const header: CowdHeader = {
    capacitySectors: view.getUint32(12, true),
    grainSectors: view.getUint32(16, true),
    gdOffset: view.getUint32(20, true),
    gdEntries: view.getUint32(24, true),
    freeSector: view.getUint32(FREE_SECTOR_OFFSET, true),
  };
  if (header.grainSectors < 1) throw new Error('COWD grainSize is 0');
  if (header.gdOffset < COWD_HEADER_SECTORS) throw new Error(`COWD gdOffset ${header.gdOffset} inside header`);
  const needed = Math.ceil(header.capacitySectors / (COWD_GT_ENTRIES * header.grainSectors));
  if (header.gdEntries < needed) {
    throw new Error(`COWD grain directory has ${header.gdEntries} entries, disk needs ${needed}`);
  }
  const nameBytes = raw.subarray(32, 32 + PARENT_NAME_BYTES);
  const end = nameBytes.indexOf(0);
  const name = Buffer.from(nameBytes.subarray(0, end < 0 ? nameBytes.length : end)).toString('utf8');
  const looksLikeRootGeometry = view.getUint32(36, true) <= 255 && view.getUint32(40, true) <= 63;
  if (name.length > 0 && /^[\x20-\x7e\u00a0-\uffff]+$/.test(name) && !name.includes('\ufffd') && !looksLikeRootGeometry) {
    header.parentFileName = name;
  }
  return header;
}

function encodeHeader(header: CowdHeader): Uint8Array {
  const raw = new Uint8Array(COWD_HEADER_SECTORS * SECTOR);
  const view = new DataView(raw.buffer);
  raw.set(Buffer.from(COWD_MAGIC, 'latin1'), 0);
  view.setUint32(4, 1, true);
  view.setUint32(8, 3, true);
  view.setUint32(12, header.capacitySectors, true);
  view.setUint32(16, header.grainSectors, true);
  view.setUint32(20, header.gdOffset, true);
  view.setUint32(24, header.gdEntries, true);
  view.setUint32(FREE_SECTOR_OFFSET, header.freeSector, true);
  if (header.parentFileName !== undefined) {
    const name = Buffer.from(header.parentFileName, 'utf8');
    if (name.length >= PARENT_NAME_BYTES) throw new Error('COWD parent file name too long');
    raw.set(name, 32);
  } else {
    const cylinders = Math.min(Math.floor(header.capacitySectors / (255 * 63)), 65535);
    view.setUint32(32, cylinders, true);
    view.setUint32(36, 255, true);
    view.setUint32(40, 63, true);
  }
  view.setUint32(1060, 1, true);
  return raw;
}

function uint32Bytes(value: number): Uint8Array {
  const raw = new Uint8Array(4);
  new DataView(raw.buffer).setUint32(0, value, true);
  return raw;
}

function pushRange(ranges: ByteRange[], offset: number, length: number): void {
  const last = ranges[ranges.length - 1];
  if (last && last.offset + last.length === offset) last.length += length;
  else ranges.push({ offset, length });
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

export class CowdDisk {
  readonly capacity: number;
  readonly capacitySectors: number;
  readonly grainSectors: number;
  readonly grainBytes: number;
  readonly parentFileName: string | undefined;
  private readonly gdOffset: number;
  private readonly directory: Uint32Array;
  private readonly tables = new Map<number, Uint32Array>();
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
    this.gdOffset = header.gdOffset;
    const gdRaw = new Uint8Array(header.gdEntries * 4);
    file.read(gdRaw, header.gdOffset * SECTOR);
    this.directory = new Uint32Array(header.gdEntries);
    const gdView = new DataView(gdRaw.buffer);
    for (let i = 0; i < header.gdEntries; i++) this.directory[i] = gdView.getUint32(i * 4, true);
    this.nextFreeSector = Math.max(header.freeSector, Math.ceil(file.size() / SECTOR));
  }

  get freeSector(): number {
    return this.nextFreeSector;
  }

  private grainTable(tableIndex: number): Uint32Array | undefined {
    const cached = this.tables.get(tableIndex);
    if (cached) return cached;
    const sector = this.directory[tableIndex] ?? 0;
    if (sector === 0) return undefined;
    const raw = new Uint8Array(GT_BYTES);
    this.file.read(raw, sector * SECTOR);
    const view = new DataView(raw.buffer);
    const table = new Uint32Array(COWD_GT_ENTRIES);
    for (let i = 0; i < COWD_GT_ENTRIES; i++) table[i] = view.getUint32(i * 4, true);
    this.tables.set(tableIndex, table);
    return table;
  }

  private grainSector(grain: number): number {
    const table = this.grainTable(Math.floor(grain / COWD_GT_ENTRIES));
    return table ? table[grain % COWD_GT_ENTRIES]! : 0;
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
      if (this.directory[tableIndex] === 0) {
        const tableEnd = Math.min(end, (tableIndex + 1) * COWD_GT_ENTRIES * this.grainBytes);
        this.addPiece(pieces, cursor, tableEnd - cursor, -1);
        cursor = tableEnd;
        continue;
      }
      const grainStart = grain * this.grainBytes;
      const pieceEnd = Math.min(end, grainStart + this.grainBytes);
      const sector = this.grainSector(grain);
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
    return this.grainSector(Math.floor(position / this.grainBytes)) !== 0;
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

  /** Every virtual byte range held by this delta, merged, in order. */
  allocatedExtents(): ByteRange[] {
    const ranges: ByteRange[] = [];
    const tableSpan = COWD_GT_ENTRIES * this.grainBytes;
    for (let tableIndex = 0; tableIndex < this.directory.length; tableIndex++) {
      const table = this.grainTable(tableIndex);
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
    this.file.write(uint32Bytes(sector), FREE_SECTOR_OFFSET);
    this.nextFreeSector = sector;
  }

  private allocateGrainTable(tableIndex: number): void {
    const sector = this.nextFreeSector;
    this.file.write(new Uint8Array(GT_BYTES), sector * SECTOR);
    this.file.write(uint32Bytes(sector), this.gdOffset * SECTOR + tableIndex * 4);
    this.directory[tableIndex] = sector;
    this.tables.set(tableIndex, new Uint32Array(COWD_GT_ENTRIES));
    this.writeFreeSector(sector + GT_BYTES / SECTOR);
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
      if (this.directory[t] === 0) this.allocateGrainTable(t);
    }

    const newGrains: number[] = [];
    let freeSector = this.nextFreeSector;
    const writes: PlannedWrite[] = [];
    for (let grain = firstGrain; grain <= lastGrain; grain++) {
      const grainStart = grain * this.grainBytes;
      const from = Math.max(position, grainStart);
      const to = Math.min(end, grainStart + this.grainBytes);
      const sector = this.grainSector(grain);
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
    this.recordGrains(newGrains, this.nextFreeSector);
    this.writeFreeSector(freeSector);
  }

  /** Points consecutive new grains at consecutive sectors from firstSector, one GT write per table. */
  private recordGrains(grains: number[], firstSector: number): void {
    let i = 0;
    while (i < grains.length) {
      const tableIndex = Math.floor(grains[i]! / COWD_GT_ENTRIES);
      const table = this.tables.get(tableIndex)!;
      let j = i;
      while (j < grains.length && Math.floor(grains[j]! / COWD_GT_ENTRIES) === tableIndex) j++;
      const firstEntry = grains[i]! % COWD_GT_ENTRIES;
      const lastEntry = grains[j - 1]! % COWD_GT_ENTRIES;
      const updated = table.slice(firstEntry, lastEntry + 1);
      for (let k = i; k < j; k++) {
        updated[(grains[k]! % COWD_GT_ENTRIES) - firstEntry] = firstSector + k * this.grainSectors;
      }
      const raw = new Uint8Array(updated.length * 4);
      const view = new DataView(raw.buffer);
      updated.forEach((sector, index) => view.setUint32(index * 4, sector, true));
      this.file.write(raw, this.directory[tableIndex]! * SECTOR + firstEntry * 4);
      table.set(updated, firstEntry);
      i = j;
    }
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

/** True when the bytes start with the COWD magic. */
export function isCowd(buf: Uint8Array): boolean {
  return buf.length >= 4 && Buffer.from(buf.subarray(0, 4)).toString('latin1') === COWD_MAGIC;
}
