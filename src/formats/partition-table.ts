// MBR and GPT partition tables: finding partitions in a disk's first sectors, and writing a one-partition table.
//
// Facts relied on: the MBR's four 16-byte entries at byte 446 (type at +4, first LBA at +8, sector count at +12),
// signature 0x55AA at 510; type 0xEE marks a protective MBR in front of a GPT; the GPT header at LBA 1 ("EFI PART",
// header size at +12, header CRC32 at +16, entries' LBA at +72, entry count at +80, entry size at +84, entries' CRC32
// at +88); an entry holds the type GUID (mixed-endian), unique GUID, first and last LBA (inclusive). VMFS partitions
// are MBR type 0xFB and GPT type AA31E02A-400F-11DB-9590-000C2911D1B8.

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

/** Reads the table in `head` (the disk's first TABLE_BYTES or more). Throws on a GPT whose checksums do not hold. */
export function readPartitionTable(head: Buffer): PartitionTable {
  if (head.length < SECTOR || head.readUInt16LE(510) !== 0xaa55) return { kind: 'none' };
  const entries = [0, 1, 2, 3].map((i) => head.subarray(446 + i * 16, 462 + i * 16));
  if (entries.some((e) => e[4] === 0xee)) return readGpt(head);
  const partitions: Partition[] = [];
  entries.forEach((e, i) => {
    const count = e.readUInt32LE(12);
    if (e[4] === 0 || count === 0) return;
    partitions.push({ number: i + 1, start: e.readUInt32LE(8) * SECTOR, size: count * SECTOR, type: e[4]!.toString(16).padStart(2, '0') });
  });
  return { kind: 'mbr', partitions };
}

function readGpt(head: Buffer): PartitionTable {
  const header = head.subarray(SECTOR, 2 * SECTOR);
  if (header.subarray(0, 8).toString('latin1') !== 'EFI PART') throw new Error('protective MBR without a GPT header at LBA 1');
  const headerSize = header.readUInt32LE(12);
  const copy = Buffer.from(header.subarray(0, headerSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== header.readUInt32LE(16)) throw new Error('GPT header checksum does not match');
  const entriesLba = Number(header.readBigUInt64LE(72));
  const count = header.readUInt32LE(80);
  const entrySize = header.readUInt32LE(84);
  const table = head.subarray(entriesLba * SECTOR, entriesLba * SECTOR + count * entrySize);
  if (table.length < count * entrySize) throw new Error('GPT entries lie past the bytes read');
  if (crc32(table) !== header.readUInt32LE(88)) throw new Error('GPT entries checksum does not match');
  const partitions: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = table.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    partitions.push({ number: i + 1, start: first * SECTOR, size: (last - first + 1) * SECTOR, type: guidText(e.subarray(0, 16)) });
  }
  return { kind: 'gpt', partitions };
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
