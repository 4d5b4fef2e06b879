// A SEsparse delta's grain directory and grain tables: where each grain is (or that it is zero), read on demand, updated in place.
//
// Grain directory entry (uint64): 0 = no table; else the top 32 bits are 0x10000000 and the low 32 bits the
// table's index in the grain-table area (table i at sector gtOffset + 64 i).
// Grain table entry (uint64), by its top nibble: 0 = not in this delta (the whole entry must be 0; read the
// parent); 1 = unmapped (the guest discarded it) and 2 = zero, both read as zeros without the parent; 3 = data:
// grain number g with its low 12 bits in bits 48..59 and the rest in bits 0..47, at sector grainsOffset + 8 g.
import { SECTOR, SESPARSE_GRAIN_SECTORS, SESPARSE_GT_ENTRIES, SESPARSE_GT_SECTORS, type SesparseHeader } from './sesparse-header.js';
import type { RandomAccessFile } from './random-access.js';

/** A grain not in this delta. */
export const GRAIN_ABSENT = -1;
/** A grain this delta holds as zeros (a zero or an unmapped entry). */
export const GRAIN_ZERO = -2;

const GD_ALLOCATED = 0x10000000n;
const TYPE_ZERO = 0x2n;
const TYPE_UNMAPPED = 0x1n;
const TYPE_DATA = 0x3n;
const GT_BYTES = SESPARSE_GT_SECTORS * SECTOR;

/** The grain-table entry of data grain number `grain`. */
export function dataEntry(grain: number): bigint {
  const g = BigInt(grain);
  return (TYPE_DATA << 60n) | ((g & 0xfffn) << 48n) | ((g >> 12n) & 0xffffffffffffn);
}

export class SesparseGrainMap {
  /** Grain-table index of each directory entry, GRAIN_ABSENT where there is no table. */
  private readonly directory: number[];
  /** Per table: the file sector of each grain, or GRAIN_ABSENT / GRAIN_ZERO. */
  private readonly tables = new Map<number, Float64Array>();

  constructor(
    private readonly file: RandomAccessFile,
    private readonly header: SesparseHeader,
    tableCount: number,
  ) {
    const raw = new Uint8Array(tableCount * 8);
    file.read(raw, header.grainDirectory.offset * SECTOR);
    const view = new DataView(raw.buffer);
    this.directory = [];
    for (let i = 0; i < tableCount; i++) {
      const entry = view.getBigUint64(i * 8, true);
      if (entry === 0n) {
        this.directory.push(GRAIN_ABSENT);
        continue;
      }
      if (entry >> 32n !== GD_ALLOCATED) throw new Error(`SEsparse grain directory entry ${i} is invalid (0x${entry.toString(16)})`);
      this.directory.push(Number(entry & 0xffffffffn));
    }
  }

  get tableCount(): number {
    return this.directory.length;
  }

  /** Grain-table indexes in use, so a writer knows the next free one. */
  usedTableIndexes(): number[] {
    return this.directory.filter((index) => index !== GRAIN_ABSENT);
  }

  tableAbsent(t: number): boolean {
    return this.directory[t] === GRAIN_ABSENT;
  }

  private tableSector(index: number): number {
    return this.header.grainTables.offset + index * SESPARSE_GT_SECTORS;
  }

  private decode(entry: bigint, where: string): number {
    switch (entry >> 60n) {
      case 0n:
        if (entry !== 0n) throw new Error(`SEsparse ${where} is invalid (0x${entry.toString(16)})`);
        return GRAIN_ABSENT;
      case TYPE_UNMAPPED:
      case TYPE_ZERO:
        return GRAIN_ZERO;
      case TYPE_DATA: {
        const grain = ((entry & 0x0fff000000000000n) >> 48n) | ((entry & 0x0000ffffffffffffn) << 12n);
        const sector = BigInt(this.header.grains.offset) + grain * BigInt(SESPARSE_GRAIN_SECTORS);
        if (sector > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`SEsparse ${where} points out of range`);
        return Number(sector);
      }
      default:
        throw new Error(`SEsparse ${where} has an unknown type (0x${entry.toString(16)})`);
    }
  }

  /** Table t decoded (file sector of each grain, or GRAIN_ABSENT / GRAIN_ZERO), read once and cached. */
  table(t: number): Float64Array | undefined {
    const cached = this.tables.get(t);
    if (cached) return cached;
    const index = this.directory[t] ?? GRAIN_ABSENT;
    if (index === GRAIN_ABSENT) return undefined;
    const raw = new Uint8Array(GT_BYTES);
    this.file.read(raw, this.tableSector(index) * SECTOR);
    const view = new DataView(raw.buffer);
    const table = new Float64Array(SESPARSE_GT_ENTRIES);
    for (let e = 0; e < SESPARSE_GT_ENTRIES; e++) {
      table[e] = this.decode(view.getBigUint64(e * 8, true), `grain table entry ${t * SESPARSE_GT_ENTRIES + e}`);
    }
    this.tables.set(t, table);
    return table;
  }

  /** File sector of the grain's data, or GRAIN_ABSENT / GRAIN_ZERO. */
  grainSector(grain: number): number {
    const table = this.table(Math.floor(grain / SESPARSE_GT_ENTRIES));
    return table ? table[grain % SESPARSE_GT_ENTRIES]! : GRAIN_ABSENT;
  }

  /**
   * Why the map cannot be trusted in a file of `fileBytes` bytes, or undefined: the directory and every table
   * it names must lie inside the grain-table area and the file, every data grain inside the grain area and the
   * file (a truncated or mis-assembled delta would otherwise read as holes, silently).
   */
  problemWithin(fileBytes: number): string | undefined {
    const h = this.header;
    if ((h.grainDirectory.offset + h.grainDirectory.size) * SECTOR > fileBytes) {
      return `the grain directory at sector ${h.grainDirectory.offset} ends beyond the file's ${fileBytes} bytes`;
    }
    const tableSlots = Math.floor(h.grainTables.size / SESPARSE_GT_SECTORS);
    const grainsEnd = h.grains.offset + h.grains.size;
    for (let t = 0; t < this.directory.length; t++) {
      const index = this.directory[t]!;
      if (index === GRAIN_ABSENT) continue;
      if (index >= tableSlots) return `grain table ${t} has index ${index}, past the ${tableSlots} the grain-table area holds`;
      const sector = this.tableSector(index);
      if ((sector + SESPARSE_GT_SECTORS) * SECTOR > fileBytes) return `grain table ${t} at sector ${sector} ends beyond the file's ${fileBytes} bytes`;
      let table: Float64Array;
      try {
        table = this.table(t)!;
      } catch (error) {
        return (error as Error).message;
      }
      for (let e = 0; e < SESPARSE_GT_ENTRIES; e++) {
        const grainSector = table[e]!;
        if (grainSector < 0) continue;
        const end = grainSector + SESPARSE_GRAIN_SECTORS;
        if (end > grainsEnd) return `grain ${t * SESPARSE_GT_ENTRIES + e} at sector ${grainSector} lies past the grain area`;
        if (end * SECTOR > fileBytes) return `grain ${t * SESPARSE_GT_ENTRIES + e} at sector ${grainSector} ends beyond the file's ${fileBytes} bytes`;
      }
    }
    return undefined;
  }

  /**
   * Puts an empty grain table at area index `index` and points directory entry t at it. The table is written
   * before the directory entry, so a reader never follows the entry to garbage.
   */
  addTable(t: number, index: number): void {
    this.file.write(new Uint8Array(GT_BYTES), this.tableSector(index) * SECTOR);
    const raw = new Uint8Array(8);
    new DataView(raw.buffer).setBigUint64(0, (GD_ALLOCATED << 32n) | BigInt(index), true);
    this.file.write(raw, this.header.grainDirectory.offset * SECTOR + t * 8);
    this.directory[t] = index;
    this.tables.set(t, new Float64Array(SESPARSE_GT_ENTRIES).fill(GRAIN_ABSENT));
  }

  /** Sets the entries of these grains (their tables already added), one write per run of neighbouring entries. */
  setEntries(grains: readonly number[], entries: readonly bigint[]): void {
    let i = 0;
    while (i < grains.length) {
      const t = Math.floor(grains[i]! / SESPARSE_GT_ENTRIES);
      let j = i + 1;
      while (j < grains.length && grains[j] === grains[j - 1]! + 1 && Math.floor(grains[j]! / SESPARSE_GT_ENTRIES) === t) j++;
      const raw = new Uint8Array((j - i) * 8);
      const view = new DataView(raw.buffer);
      for (let k = i; k < j; k++) view.setBigUint64((k - i) * 8, entries[k]!, true);
      const first = grains[i]! % SESPARSE_GT_ENTRIES;
      this.file.write(raw, this.tableSector(this.directory[t]!) * SECTOR + first * 8);
      const table = this.tables.get(t)!;
      for (let k = i; k < j; k++) table[first + k - i] = this.decode(entries[k]!, `grain table entry ${grains[k]}`);
      i = j;
    }
  }
}
