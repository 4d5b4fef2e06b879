// VMware SEsparse delta ("seSparse" snapshot extent, ESXi 6.5+ on VMFS6): create, open, read, write, list held ranges.
//
// The headers are in sesparse-header.ts and the grain map in sesparse-grain-map.ts. Grains are 4 KiB
// (8 sectors); each grain table covers 16 MiB. New grains are appended at the end of the file, numbered
// from the start of the grain area, so the file is as long as its last grain; new grain tables take the
// next free slot of the grain-table area (the volatile header's freeGtNumber counts the slots in use).
// A grain the guest zeroed or discarded can be held as a zero entry: it reads as zeros, not as the parent.
import type { RandomAccessFile } from './random-access.js';
import { dataEntry, GRAIN_ABSENT, GRAIN_ZERO, SesparseGrainMap } from './sesparse-grain-map.js';
import {
  encodeSesparseHeader,
  encodeSesparseVolatileHeader,
  readSesparseHeader,
  readSesparseVolatileHeader,
  SECTOR,
  SESPARSE_GRAIN_SECTORS,
  SESPARSE_GT_ENTRIES,
  SESPARSE_GT_SECTORS,
  type SesparseHeader,
} from './sesparse-header.js';
import { pushRange, type ByteRange, type ParentReader, type SparseDelta } from './sparse-delta-types.js';

export { isSesparse } from './sesparse-header.js';

const GRAIN_BYTES = SESPARSE_GRAIN_SECTORS * SECTOR;
/** Virtual sectors one grain table covers. */
const TABLE_SPAN_SECTORS = SESPARSE_GT_ENTRIES * SESPARSE_GRAIN_SECTORS;
const TYPE_UNMAPPED = 0x1n << 60n;
const TYPE_ZERO = 0x2n << 60n;

/** A virtual byte range and where it is: a file offset, or GRAIN_ABSENT / GRAIN_ZERO. */
interface Piece {
  offset: number;
  length: number;
  at: number;
}

const align8 = (sectors: number) => Math.ceil(sectors / 8) * 8;

/** The areas of a new delta of this capacity, packed one after the other on 4 KiB boundaries. */
export function sesparseLayout(capacitySectors: number): SesparseHeader {
  const grains = Math.ceil(capacitySectors / SESPARSE_GRAIN_SECTORS);
  const tables = Math.ceil(capacitySectors / TABLE_SPAN_SECTORS);
  let next = 16;
  const area = (size: number) => {
    const a = { offset: next, size };
    next = align8(next + size);
    return a;
  };
  return {
    capacitySectors,
    volatileHeader: { offset: 1, size: 1 },
    journalHeader: { offset: 2, size: 2 },
    journal: { offset: 8, size: 8 },
    grainDirectory: area(align8(Math.ceil((tables * 8) / SECTOR))),
    grainTables: area(tables * SESPARSE_GT_SECTORS),
    freeBitmap: area(align8(Math.ceil(grains / 8 / SECTOR))),
    backmap: area(align8(Math.ceil((grains * 8) / SECTOR))),
    grains: area(grains * SESPARSE_GRAIN_SECTORS),
  };
}

export class SesparseDisk implements SparseDelta {
  readonly format = 'seSparse' as const;
  readonly capacity: number;
  readonly capacitySectors: number;
  readonly grainBytes = GRAIN_BYTES;
  private readonly map: SesparseGrainMap;
  private nextTable: number;
  private nextGrain: number;
  private txn: number;

  constructor(
    private readonly file: RandomAccessFile,
    private readonly header: SesparseHeader,
    freeGtNumber: number,
    txn: number,
  ) {
    this.capacitySectors = header.capacitySectors;
    this.capacity = header.capacitySectors * SECTOR;
    this.map = new SesparseGrainMap(file, header, Math.ceil(header.capacitySectors / TABLE_SPAN_SECTORS));
    this.nextTable = this.map.usedTableIndexes().reduce((next, i) => Math.max(next, i + 1), freeGtNumber);
    this.nextGrain = Math.max(0, Math.ceil((file.size() / SECTOR - header.grains.offset) / SESPARSE_GRAIN_SECTORS));
    this.txn = txn;
  }

  private checkRange(position: number, length: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || length < 0 || position + length > this.capacity) {
      throw new RangeError(`range ${position}+${length} outside SEsparse disk of ${this.capacity} bytes`);
    }
  }

  /** Splits [position, position+length) at grain boundaries, merging neighbours of one kind (data contiguous in the file too). */
  private pieces(position: number, length: number): Piece[] {
    this.checkRange(position, length);
    const pieces: Piece[] = [];
    const end = position + length;
    const tableSpan = TABLE_SPAN_SECTORS * SECTOR;
    let cursor = position;
    while (cursor < end) {
      const grain = Math.floor(cursor / GRAIN_BYTES);
      const t = Math.floor(grain / SESPARSE_GT_ENTRIES);
      if (this.map.tableAbsent(t)) {
        const tableEnd = Math.min(end, (t + 1) * tableSpan);
        this.addPiece(pieces, cursor, tableEnd - cursor, GRAIN_ABSENT);
        cursor = tableEnd;
        continue;
      }
      const grainStart = grain * GRAIN_BYTES;
      const pieceEnd = Math.min(end, grainStart + GRAIN_BYTES);
      const sector = this.map.grainSector(grain);
      this.addPiece(pieces, cursor, pieceEnd - cursor, sector < 0 ? sector : sector * SECTOR + (cursor - grainStart));
      cursor = pieceEnd;
    }
    return pieces;
  }

  private addPiece(pieces: Piece[], offset: number, length: number, at: number): void {
    const last = pieces[pieces.length - 1];
    if (last && (at < 0 ? last.at === at : last.at >= 0 && last.at + last.length === at)) {
      last.length += length;
      return;
    }
    pieces.push({ offset, length, at });
  }

  read(buf: Uint8Array, position: number): ByteRange[] {
    const ranges: ByteRange[] = [];
    for (const piece of this.pieces(position, buf.length)) {
      const target = buf.subarray(piece.offset - position, piece.offset - position + piece.length);
      if (piece.at < 0) {
        target.fill(0);
        if (piece.at === GRAIN_ZERO) pushRange(ranges, piece.offset, piece.length);
        continue;
      }
      const got = this.file.read(target, piece.at);
      if (got < target.length) target.fill(0, got);
      pushRange(ranges, piece.offset, piece.length);
    }
    return ranges;
  }

  allocatedExtents(): ByteRange[] {
    const ranges: ByteRange[] = [];
    for (let t = 0; t < this.map.tableCount; t++) {
      const table = this.map.table(t);
      if (!table) continue;
      for (let e = 0; e < SESPARSE_GT_ENTRIES; e++) {
        if (table[e] === GRAIN_ABSENT) continue;
        const offset = (t * SESPARSE_GT_ENTRIES + e) * GRAIN_BYTES;
        if (offset >= this.capacity) break;
        pushRange(ranges, offset, Math.min(GRAIN_BYTES, this.capacity - offset));
      }
    }
    return ranges;
  }

  layoutProblem(): string | undefined {
    return this.map.problemWithin(this.file.size());
  }

  private writeVolatile(): void {
    this.file.write(encodeSesparseVolatileHeader({ freeGtNumber: this.nextTable, nextTxnSeqNumber: this.txn, replayJournal: 0 }), this.header.volatileHeader.offset * SECTOR);
  }

  /** Gives every grain table that grains first..last fall in a slot of the grain-table area. */
  private ensureTables(firstGrain: number, lastGrain: number): void {
    let added = false;
    for (let t = Math.floor(firstGrain / SESPARSE_GT_ENTRIES); t <= Math.floor(lastGrain / SESPARSE_GT_ENTRIES); t++) {
      if (!this.map.tableAbsent(t)) continue;
      if ((this.nextTable + 1) * SESPARSE_GT_SECTORS > this.header.grainTables.size) throw new Error('SEsparse grain-table area is full');
      this.map.addTable(t, this.nextTable++);
      added = true;
    }
    if (added) this.writeVolatile();
  }

  /**
   * Writes buf at position. Grains not yet in this delta are appended at the end of the file; the parts of a
   * new grain that buf does not cover come from parent (zeros without one, and zeros where this delta held
   * the grain as zero). Order on disk: grain tables, grain data, then grain-table entries, so the file is a
   * valid delta after each step.
   */
  write(buf: Uint8Array, position: number, parent?: ParentReader): void {
    this.checkRange(position, buf.length);
    if (buf.length === 0) return;
    const end = position + buf.length;
    const firstGrain = Math.floor(position / GRAIN_BYTES);
    const lastGrain = Math.floor((end - 1) / GRAIN_BYTES);
    this.ensureTables(firstGrain, lastGrain);
    const newGrains: number[] = [];
    const entries: bigint[] = [];
    let grainNumber = this.nextGrain;
    for (let grain = firstGrain; grain <= lastGrain; grain++) {
      const grainStart = grain * GRAIN_BYTES;
      const from = Math.max(position, grainStart);
      const to = Math.min(end, grainStart + GRAIN_BYTES);
      const part = buf.subarray(from - position, to - position);
      const sector = this.map.grainSector(grain);
      if (sector >= 0) {
        this.file.write(part, sector * SECTOR + (from - grainStart));
        continue;
      }
      if ((grainNumber + 1) * SESPARSE_GRAIN_SECTORS > this.header.grains.size) throw new Error('SEsparse grain area is full');
      const fileOffset = (this.header.grains.offset + grainNumber * SESPARSE_GRAIN_SECTORS) * SECTOR;
      if (to - from === GRAIN_BYTES) {
        this.file.write(part, fileOffset);
      } else {
        const whole = new Uint8Array(GRAIN_BYTES);
        const parentBytes = whole.subarray(0, Math.min(GRAIN_BYTES, this.capacity - grainStart));
        if (sector === GRAIN_ABSENT) parent?.read(parentBytes, grainStart);
        whole.set(part, from - grainStart);
        this.file.write(whole, fileOffset);
      }
      newGrains.push(grain);
      entries.push(dataEntry(grainNumber));
      grainNumber++;
    }
    if (newGrains.length === 0) return;
    this.map.setEntries(newGrains, entries);
    this.nextGrain = grainNumber;
  }

  /**
   * Marks the whole grains in [position, position+length) as held zeros ('zero') or discarded ('unmapped'),
   * as a host does for a guest's zeroing or UNMAP; both read as zeros, not as the parent.
   */
  markZero(position: number, length: number, kind: 'zero' | 'unmapped' = 'zero'): void {
    this.checkRange(position, length);
    const end = position + length;
    if (position % GRAIN_BYTES !== 0 || (end % GRAIN_BYTES !== 0 && end !== this.capacity)) {
      throw new RangeError(`SEsparse zero grains must be whole grains (${position}+${length})`);
    }
    if (length === 0) return;
    const firstGrain = position / GRAIN_BYTES;
    const lastGrain = Math.floor((end - 1) / GRAIN_BYTES);
    this.ensureTables(firstGrain, lastGrain);
    const grains: number[] = [];
    for (let g = firstGrain; g <= lastGrain; g++) grains.push(g);
    this.map.setEntries(grains, grains.map(() => (kind === 'zero' ? TYPE_ZERO : TYPE_UNMAPPED)));
  }
}

export interface SesparseCreateOptions {
  capacitySectors: number;
}

/** Writes a new, empty SEsparse delta into file (which should be empty) and opens it. */
export function createSesparse(file: RandomAccessFile, options: SesparseCreateOptions): SesparseDisk {
  const { capacitySectors } = options;
  if (!Number.isSafeInteger(capacitySectors) || capacitySectors <= 0) throw new RangeError(`SEsparse capacity must be a positive number of sectors, got ${capacitySectors}`);
  const header = sesparseLayout(capacitySectors);
  file.truncate(0);
  file.write(encodeSesparseHeader(header), 0);
  file.write(encodeSesparseVolatileHeader({ freeGtNumber: 0, nextTxnSeqNumber: 0, replayJournal: 0 }), header.volatileHeader.offset * SECTOR);
  file.truncate(header.grains.offset * SECTOR);
  return new SesparseDisk(file, header, 0, 0);
}

export function openSesparse(file: RandomAccessFile): SesparseDisk {
  const header = readSesparseHeader(file);
  const volatile = readSesparseVolatileHeader(file, header);
  return new SesparseDisk(file, header, volatile.freeGtNumber, volatile.nextTxnSeqNumber);
}
