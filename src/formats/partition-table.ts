// MBR and GPT partition tables: finding partitions in a disk's first sectors or, through a reader, in a whole disk (MBR logical partitions included), and writing a one-partition table.
//
// Facts relied on: the MBR's four 16-byte entries at byte 446 (boot flag at +0, 0x00 or 0x80; type at +4, first LBA
// at +8, sector count at +12), signature 0x55AA at 510; type 0xEE marks a protective MBR in front of a GPT; types 0x05,
// 0x0F and 0x85 mark an extended partition, whose first sector is the first EBR: an MBR-shaped sector whose first
// entry is a logical partition (LBA relative to that EBR) and whose second entry links to the next EBR (LBA relative
// to the extended partition's start); Linux numbers logical partitions from 5 in chain order. The GPT header at LBA 1
// ("EFI PART", header size at +12, header CRC32 at +16, this header's LBA at +24, entries' LBA at +72, entry count at
// +80, entry size at +84, entries' CRC32 at +88), a backup header in the disk's last sector; an entry holds the type
// GUID (mixed-endian), unique GUID, first and last LBA (inclusive), attributes and a UTF-16LE name (72 bytes at +56).
// VMFS partitions are MBR type 0xFB and GPT type AA31E02A-400F-11DB-9590-000C2911D1B8.

import { crc32 } from 'node:zlib';

export const SECTOR = 512;
export const MBR_TYPE_VMFS = 0xfb;
export const GPT_TYPE_VMFS = 'aa31e02a-400f-11db-9590-000c2911d1b8';
/** Bytes to read from a disk's start to see its whole table (MBR, GPT header and 128 entries of 128 bytes). */
export const TABLE_BYTES = 34 * SECTOR;

export interface Partition {
  /** 1-based, in table order. */
  number: number;
  /** Byte offset of the partition on the disk. */
  start: number;
  size: number;
  /** MBR: the type byte in hex ("fb"); GPT: the type GUID in its usual lower-case form. */
  type: string;
  /** GPT only: the partition's name, when it has one. */
  name?: string;
}

export type PartitionTable = { kind: 'none' } | { kind: 'mbr' | 'gpt'; partitions: Partition[] };

/** The GUID form of 16 on-disk bytes (first three fields little-endian). */
export function guidText(bytes: Buffer): string {
  const hex = (b: Buffer) => b.toString('hex');
  const le = (b: Buffer) => Buffer.from(b).reverse().toString('hex');
  return `${le(bytes.subarray(0, 4))}-${le(bytes.subarray(4, 6))}-${le(bytes.subarray(6, 8))}-${hex(bytes.subarray(8, 10))}-${hex(bytes.subarray(10, 16))}`;
}

function guidBytes(text: string): Buffer {
  const h = text.replace(/-/g, '');
  const le = (s: string) => Buffer.from(s, 'hex').reverse();
  return Buffer.concat([le(h.slice(0, 8)), le(h.slice(8, 12)), le(h.slice(12, 16)), Buffer.from(h.slice(16), 'hex')]);
}

interface MbrEntry {
  /** 1..4, the entry's place in its sector. */
  slot: number;
  bootFlag: number;
  type: number;
  firstLba: number;
  sectors: number;
}

function mbrEntries(sector: Buffer): MbrEntry[] {
  return [0, 1, 2, 3].map((i) => {
    const e = sector.subarray(446 + i * 16, 462 + i * 16);
    return { slot: i + 1, bootFlag: e[0]!, type: e[4]!, firstLba: e.readUInt32LE(8), sectors: e.readUInt32LE(12) };
  });
}

const isUsed = (e: MbrEntry): boolean => e.type !== 0 && e.sectors !== 0;
const typeHex = (type: number): string => type.toString(16).padStart(2, '0');
const hasBootSignature = (sector: Buffer): boolean => sector.length >= SECTOR && sector.readUInt16LE(510) === 0xaa55;

/** Reads the table in `head` (the disk's first TABLE_BYTES or more). Throws on a GPT whose checksums do not hold. */
export function readPartitionTable(head: Buffer): PartitionTable {
  if (!hasBootSignature(head)) return { kind: 'none' };
  const entries = mbrEntries(head);
  if (entries.some((e) => e.type === 0xee)) return readGpt(head);
  const partitions: Partition[] = entries
    .filter(isUsed)
    .map((e) => ({ number: e.slot, start: e.firstLba * SECTOR, size: e.sectors * SECTOR, type: typeHex(e.type) }));
  return { kind: 'mbr', partitions };
}

interface GptHeader {
  entriesLba: number;
  count: number;
  entrySize: number;
  entriesCrc: number;
}

/** Entry arrays larger than this are taken for damage: the usual one is 16 KiB. */
const MAX_GPT_ENTRY_BYTES = 4 * 1024 * 1024;

function parseGptHeader(sector: Buffer): GptHeader {
  if (sector.subarray(0, 8).toString('latin1') !== 'EFI PART') throw new Error('no "EFI PART" signature');
  const headerSize = sector.readUInt32LE(12);
  if (headerSize < 92 || headerSize > SECTOR) throw new Error(`implausible GPT header size ${headerSize}`);
  const copy = Buffer.from(sector.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== sector.readUInt32LE(16)) throw new Error('GPT header checksum does not match');
  const header = {
    entriesLba: Number(sector.readBigUInt64LE(72)),
    count: sector.readUInt32LE(80),
    entrySize: sector.readUInt32LE(84),
    entriesCrc: sector.readUInt32LE(88),
  };
  if (header.entrySize < 128 || header.entrySize % 8 !== 0 || header.count * header.entrySize > MAX_GPT_ENTRY_BYTES) {
    throw new Error(`implausible GPT entry array (${header.count} entries of ${header.entrySize} bytes)`);
  }
  return header;
}

function parseGptEntries(table: Buffer, header: GptHeader): Partition[] {
  if (crc32(table) !== header.entriesCrc) throw new Error('GPT entries checksum does not match');
  const partitions: Partition[] = [];
  for (let i = 0; i < header.count; i++) {
    const e = table.subarray(i * header.entrySize, (i + 1) * header.entrySize);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    const partition: Partition = { number: i + 1, start: first * SECTOR, size: (last - first + 1) * SECTOR, type: guidText(e.subarray(0, 16)) };
    const name = e.subarray(56, 128).toString('utf16le').replace(/\0.*$/s, '');
    if (name) partition.name = name;
    partitions.push(partition);
  }
  return partitions;
}

function readGpt(head: Buffer): PartitionTable {
  const sector = head.subarray(SECTOR, 2 * SECTOR);
  if (sector.subarray(0, 8).toString('latin1') !== 'EFI PART') throw new Error('protective MBR without a GPT header at LBA 1');
  const header = parseGptHeader(sector);
  const table = head.subarray(header.entriesLba * SECTOR, header.entriesLba * SECTOR + header.count * header.entrySize);
  if (table.length < header.count * header.entrySize) throw new Error('GPT entries lie past the bytes read');
  return { kind: 'gpt', partitions: parseGptEntries(table, header) };
}

// ---------------------------------------------------------------------------------------------------------------
// Whole disks through a reader: logical partitions, a damaged primary GPT, and disks without a table.

/** Reads `length` bytes at `offset` of a disk or volume; may return fewer at its end. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/** Reads exactly `length` bytes: what the reader did not return (past the end) reads as zeros. */
export async function readPadded(read: ReadAt, offset: number, length: number): Promise<Buffer> {
  const got = await read(offset, length);
  if (got.length >= length) return got.length === length ? got : got.subarray(0, length);
  const out = Buffer.alloc(length);
  got.copy(out);
  return out;
}

export const MBR_EXTENDED_TYPES: readonly number[] = [0x05, 0x0f, 0x85];
/** How many EBRs one extended partition's chain may have: more is damage (Linux stops at 256 partitions per disk). */
export const MAX_EBR_CHAIN = 256;

export interface DiskPartition {
  /** Linux's number: MBR primaries 1-4, logical partitions 5 on in chain order; GPT entries 1-based; 0 = whole disk. */
  index: number;
  /** Byte offset on the disk. */
  start: number;
  size: number;
  /** MBR: the type byte in hex ("83"); GPT: the type GUID, lower case. */
  type: string;
  /** GPT partition name. */
  name?: string;
  /** MBR boot flag (0x80). */
  bootable?: boolean;
  /** MBR: a logical partition inside an extended one. */
  logical?: boolean;
}

export interface DiskLayout {
  table: 'mbr' | 'gpt' | 'none';
  /** Data partitions only: an extended partition (the container of logical ones) is not listed. */
  partitions: DiskPartition[];
  /** Damage found and worked around (a looping EBR chain, a damaged primary GPT, partitions past the disk's end). */
  warnings: string[];
}

/**
 * Reads the partition table of a whole disk of `diskBytes` bytes through `read`. Does not throw on a damaged table:
 * it lists what it could and says what it could not in `warnings`. A disk whose first sector is a file system's boot
 * sector (a "superfloppy": FAT, NTFS, exFAT formatted without a table) has table 'none'.
 */
export async function readDiskPartitions(read: ReadAt, diskBytes: number): Promise<DiskLayout> {
  const warnings: string[] = [];
  if (diskBytes < SECTOR) return { table: 'none', partitions: [], warnings };
  const mbr = await readPadded(read, 0, SECTOR);
  if (!hasBootSignature(mbr)) return { table: 'none', partitions: [], warnings };
  const entries = mbrEntries(mbr);
  if (entries.some((e) => e.type === 0xee)) return readDiskGpt(read, diskBytes, warnings);
  // A FAT/NTFS/exFAT boot sector also ends in 0x55AA; its code at 446 is no table.
  if (looksLikeBootSector(mbr)) return { table: 'none', partitions: [], warnings };
  const badFlag = entries.find((e) => e.bootFlag !== 0 && e.bootFlag !== 0x80);
  if (badFlag) {
    warnings.push(`sector 0 ends in 0x55AA but entry ${badFlag.slot} has boot flag 0x${typeHex(badFlag.bootFlag)} (not 0x00 or 0x80): not read as a partition table`);
    return { table: 'none', partitions: [], warnings };
  }
  const diskSectors = Math.floor(diskBytes / SECTOR);
  const partitions: DiskPartition[] = [];
  const extended: MbrEntry[] = [];
  for (const e of entries.filter(isUsed)) {
    if (MBR_EXTENDED_TYPES.includes(e.type)) {
      extended.push(e);
      continue;
    }
    const p = inDisk(
      { index: e.slot, start: e.firstLba * SECTOR, size: e.sectors * SECTOR, type: typeHex(e.type), bootable: e.bootFlag === 0x80 },
      diskBytes,
      `partition ${e.slot}`,
      warnings,
    );
    if (p) partitions.push(p);
  }
  if (extended.length > 1) warnings.push(`the MBR holds ${extended.length} extended partitions (entries ${extended.map((e) => e.slot).join(', ')}); logical partitions of each are listed`);
  let next = 5;
  for (const e of extended) {
    const chain = await readLogicalPartitions(read, e, diskSectors, next, warnings);
    partitions.push(...chain.partitions);
    next = chain.nextIndex;
  }
  return { table: 'mbr', partitions, warnings };
}

/** `p` as is when it lies on the disk; kept with a warning when it runs past the end; undefined (warned) when it starts past it or is empty. */
function inDisk(p: DiskPartition, diskBytes: number, what: string, warnings: string[]): DiskPartition | undefined {
  if (p.size <= 0) {
    warnings.push(`${what} ends before it starts: not listed`);
    return undefined;
  }
  if (p.start >= diskBytes) {
    warnings.push(`${what} starts at byte ${p.start}, past the disk's end (${diskBytes} bytes): not listed`);
    return undefined;
  }
  if (p.start + p.size > diskBytes) {
    warnings.push(`${what} (bytes ${p.start}..${p.start + p.size}) runs past the disk's end (${diskBytes} bytes)`);
  }
  return p;
}

/** The logical partitions in one extended partition's EBR chain; a skipped one still takes its number, as in Linux. */
async function readLogicalPartitions(
  read: ReadAt,
  ext: MbrEntry,
  diskSectors: number,
  firstIndex: number,
  warnings: string[],
): Promise<{ partitions: DiskPartition[]; nextIndex: number }> {
  const partitions: DiskPartition[] = [];
  let index = firstIndex;
  const extStart = ext.firstLba;
  const extEnd = Math.min(ext.firstLba + ext.sectors, diskSectors);
  const what = `extended partition ${ext.slot}`;
  const seen = new Set<number>();
  let ebr = extStart;
  let from: number | undefined;
  for (;;) {
    const linked = from === undefined ? '' : ` (linked from the EBR at byte ${from * SECTOR})`;
    if (seen.has(ebr)) {
      warnings.push(`${what}: the EBR at byte ${from! * SECTOR} links back to the EBR at byte ${ebr * SECTOR}, a loop; logical partitions after it are not listed`);
      break;
    }
    if (seen.size >= MAX_EBR_CHAIN) {
      warnings.push(`${what}: its EBR chain goes on past ${MAX_EBR_CHAIN} links; stopped at the EBR at byte ${ebr * SECTOR}`);
      break;
    }
    if (ebr < extStart || ebr >= extEnd) {
      warnings.push(`${what}: an EBR is said to lie at byte ${ebr * SECTOR}${linked}, outside the extended partition (bytes ${extStart * SECTOR}..${extEnd * SECTOR}); logical partitions from there on are not listed`);
      break;
    }
    seen.add(ebr);
    let sector: Buffer;
    try {
      sector = await readPadded(read, ebr * SECTOR, SECTOR);
    } catch (error) {
      warnings.push(`${what}: cannot read the EBR at byte ${ebr * SECTOR} (${(error as Error).message}); logical partitions from there on are not listed`);
      break;
    }
    if (!hasBootSignature(sector)) {
      // An empty extended partition has a zeroed first EBR: nothing to warn about.
      if (from !== undefined || sector.some((b) => b !== 0)) {
        warnings.push(`${what}: no 0x55AA signature in the EBR at byte ${ebr * SECTOR}${linked}; logical partitions from there on are not listed`);
      }
      break;
    }
    let link: MbrEntry | undefined;
    for (const e of mbrEntries(sector).filter(isUsed)) {
      if (MBR_EXTENDED_TYPES.includes(e.type)) {
        link ??= e;
        continue;
      }
      const n = index++;
      const p = inDisk(
        { index: n, start: (ebr + e.firstLba) * SECTOR, size: e.sectors * SECTOR, type: typeHex(e.type), bootable: e.bootFlag === 0x80, logical: true },
        diskSectors * SECTOR,
        `logical partition ${n} (EBR at byte ${ebr * SECTOR})`,
        warnings,
      );
      if (!p) continue;
      if (ebr + e.firstLba + e.sectors > extEnd) {
        warnings.push(`logical partition ${p.index} (EBR at byte ${ebr * SECTOR}) runs past the end of ${what}`);
      }
      partitions.push(p);
    }
    if (!link) break;
    from = ebr;
    ebr = extStart + link.firstLba;
  }
  return { partitions, nextIndex: index };
}

async function readDiskGpt(read: ReadAt, diskBytes: number, warnings: string[]): Promise<DiskLayout> {
  const diskSectors = Math.floor(diskBytes / SECTOR);
  const tryHeader = async (lba: number): Promise<DiskPartition[]> => {
    const header = parseGptHeader(await readPadded(read, lba * SECTOR, SECTOR));
    const bytes = header.count * header.entrySize;
    if (header.entriesLba < 1 || header.entriesLba * SECTOR + bytes > diskBytes) {
      throw new Error(`its entries (LBA ${header.entriesLba}, ${bytes} bytes) lie outside the disk`);
    }
    const table = await readPadded(read, header.entriesLba * SECTOR, bytes);
    const partitions: DiskPartition[] = [];
    for (const p of parseGptEntries(table, header)) {
      const { number, ...rest } = p;
      const kept = inDisk({ index: number, ...rest }, diskBytes, `GPT partition ${number}`, warnings);
      if (kept) partitions.push(kept);
    }
    return partitions;
  };
  let primaryProblem: string;
  try {
    return { table: 'gpt', partitions: await tryHeader(1), warnings };
  } catch (error) {
    primaryProblem = (error as Error).message;
  }
  const backupLba = diskSectors - 1;
  try {
    const partitions = await tryHeader(backupLba);
    warnings.push(`primary GPT unusable (${primaryProblem}); read the backup GPT header at byte ${backupLba * SECTOR}`);
    return { table: 'gpt', partitions, warnings };
  } catch (error) {
    warnings.push(`protective MBR, but neither GPT is usable: primary (${primaryProblem}), backup at byte ${backupLba * SECTOR} (${(error as Error).message})`);
    return { table: 'gpt', partitions: [], warnings };
  }
}

/**
 * Whether sector 0 is a file system's boot sector rather than an MBR: NTFS or exFAT by their OEM names, FAT by a
 * plausible BIOS parameter block (jump, bytes per sector, sectors per cluster, reserved sectors, FAT count, media).
 */
function looksLikeBootSector(sector: Buffer): boolean {
  const oem = sector.subarray(3, 11).toString('latin1');
  if (oem === 'NTFS    ' || oem === 'EXFAT   ') return true;
  const jump = sector[0] === 0xeb ? sector[2] === 0x90 : sector[0] === 0xe9;
  const bytesPerSector = sector.readUInt16LE(11);
  const perCluster = sector[13]!;
  const media = sector[21]!;
  return (
    jump &&
    [512, 1024, 2048, 4096].includes(bytesPerSector) &&
    perCluster !== 0 &&
    (perCluster & (perCluster - 1)) === 0 &&
    sector.readUInt16LE(14) >= 1 &&
    sector[16]! >= 1 &&
    sector[16]! <= 4 &&
    (media === 0xf0 || media >= 0xf8)
  );
}

/** Whether a partition is a VMFS one, by its table's type. */
export function isVmfsPartition(p: Partition): boolean {
  return p.type === MBR_TYPE_VMFS.toString(16) || p.type === GPT_TYPE_VMFS;
}

/** An MBR with one VMFS partition from `start` for `size` bytes (both whole sectors). */
export function mbrWithVmfs(start: number, size: number): Buffer {
  const mbr = Buffer.alloc(SECTOR);
  const e = mbr.subarray(446, 462);
  e[4] = MBR_TYPE_VMFS;
  e.writeUInt32LE(start / SECTOR, 8);
  e.writeUInt32LE(size / SECTOR, 12);
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}

/** A protective MBR, a primary GPT header and 128 entries, one a VMFS partition from `start` for `size` bytes. */
export function gptWithVmfs(start: number, size: number, diskBytes: number, diskGuid: string, partitionGuid: string): Buffer {
  const out = Buffer.alloc(TABLE_BYTES);
  const lastLba = diskBytes / SECTOR - 1;
  const pmbr = out.subarray(446, 462);
  pmbr[4] = 0xee;
  pmbr.writeUInt32LE(1, 8);
  pmbr.writeUInt32LE(Math.min(lastLba, 0xffffffff), 12);
  out.writeUInt16LE(0xaa55, 510);
  const entries = out.subarray(2 * SECTOR, 34 * SECTOR);
  guidBytes(GPT_TYPE_VMFS).copy(entries, 0);
  guidBytes(partitionGuid).copy(entries, 16);
  entries.writeBigUInt64LE(BigInt(start / SECTOR), 32);
  entries.writeBigUInt64LE(BigInt((start + size) / SECTOR - 1), 40);
  const header = out.subarray(SECTOR, 2 * SECTOR);
  header.write('EFI PART', 0, 'latin1');
  header.writeUInt32LE(0x00010000, 8);
  header.writeUInt32LE(92, 12);
  header.writeBigUInt64LE(1n, 24);
  header.writeBigUInt64LE(BigInt(lastLba), 32);
  header.writeBigUInt64LE(34n, 40);
  header.writeBigUInt64LE(BigInt(lastLba - 33), 48);
  guidBytes(diskGuid).copy(header, 56);
  header.writeBigUInt64LE(2n, 72);
  header.writeUInt32LE(128, 80);
  header.writeUInt32LE(128, 84);
  header.writeUInt32LE(crc32(entries), 88);
  header.writeUInt32LE(crc32(header.subarray(0, 92)), 16);
  return out;
}
