// A COWD delta's grain directory and grain tables: which file sector holds each grain, read on demand, updated in place.
import { COWD_GT_ENTRIES, GT_BYTES, SECTOR, uint32Bytes } from './cowd-header.js';
import type { RandomAccessFile } from './random-access.js';

export class CowdGrainMap {
  private readonly directory: Uint32Array;
  private readonly tables = new Map<number, Uint32Array>();

  constructor(
    private readonly file: RandomAccessFile,
    private readonly gdOffset: number,
    gdEntries: number,
  ) {
    const gdRaw = new Uint8Array(gdEntries * 4);
    file.read(gdRaw, gdOffset * SECTOR);
    this.directory = new Uint32Array(gdEntries);
    const gdView = new DataView(gdRaw.buffer);
    for (let i = 0; i < gdEntries; i++) this.directory[i] = gdView.getUint32(i * 4, true);
  }

  /** Grain directory entries, each naming one grain table (or none). */
  get tableCount(): number {
    return this.directory.length;
  }

  /** True when the directory entry is 0: no grain of that table is in this delta. */
  tableAbsent(tableIndex: number): boolean {
    return this.directory[tableIndex] === 0;
  }

  /**
   * Why the map cannot be trusted in a file of `fileBytes` bytes, or undefined: the directory, every grain
   * table and every grain it names must lie inside the file (a truncated or mis-assembled delta would
   * otherwise read as holes, silently).
   */
  problemWithin(fileBytes: number, grainBytes: number): string | undefined {
    const beyond = (what: string, sector: number, bytes: number) =>
      sector * SECTOR + bytes > fileBytes ? `${what} at sector ${sector} ends beyond the file's ${fileBytes} bytes` : undefined;
    const gd = beyond('the grain directory', this.gdOffset, this.directory.length * 4);
    if (gd) return gd;
    for (let t = 0; t < this.directory.length; t++) {
      const sector = this.directory[t]!;
      if (sector === 0) continue;
      const gt = beyond(`grain table ${t}`, sector, GT_BYTES);
      if (gt) return gt;
      const table = this.table(t)!;
      for (let e = 0; e < COWD_GT_ENTRIES; e++) {
        const grain = table[e]!;
        const problem = grain === 0 ? undefined : beyond(`grain ${t * COWD_GT_ENTRIES + e}`, grain, grainBytes);
        if (problem) return problem;
      }
    }
    return undefined;
  }

  /** The grain table's entries (sector of each grain, 0 = not in this delta), read once and cached. */
  table(tableIndex: number): Uint32Array | undefined {
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

  /** File sector of the grain's data, 0 when the grain is not in this delta. */
  grainSector(grain: number): number {
    const table = this.table(Math.floor(grain / COWD_GT_ENTRIES));
    return table ? table[grain % COWD_GT_ENTRIES]! : 0;
  }

  /**
   * Puts an empty grain table at `sector` and points the directory at it; returns the sectors it takes.
   * The table is written before the directory entry, so a reader never follows the entry to garbage.
   */
  addTable(tableIndex: number, sector: number): number {
    this.file.write(new Uint8Array(GT_BYTES), sector * SECTOR);
    this.file.write(uint32Bytes(sector), this.gdOffset * SECTOR + tableIndex * 4);
    this.directory[tableIndex] = sector;
    this.tables.set(tableIndex, new Uint32Array(COWD_GT_ENTRIES));
    return GT_BYTES / SECTOR;
  }

  /** Points consecutive new grains (their tables already added) at consecutive runs of sectors from firstSector, one GT write per table. */
  recordGrains(grains: readonly number[], firstSector: number, grainSectors: number): void {
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
        updated[(grains[k]! % COWD_GT_ENTRIES) - firstEntry] = firstSector + k * grainSectors;
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
