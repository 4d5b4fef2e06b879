// The SEsparse (seSparse) delta's two headers and its metadata layout: decoding with strict checks, encoding, the magic test.
//
// On-disk layout (every field a little-endian uint64; offsets and sizes in 512-byte sectors):
//   constant header, sector 0: magic 0xcafebabe, version 0x200000001, capacity, grainSize (8),
//     grainTableSize (64), flags (0), reserved x4 (0), then (offset, size) pairs of the volatile header,
//     journal header, journal, grain directory, grain tables, free bitmap, backmap and grains; 304 bytes of zero pad.
//   volatile header (at its offset): magic 0xcafecafe, freeGtNumber, nextTxnSeqNumber, replayJournal; 480 bytes of zero pad.
// The format is not published by VMware; these are the fields and values qemu's block/vmdk.c checks, and
// a file that breaks any of them is refused as qemu refuses it.
import type { RandomAccessFile } from './random-access.js';

export const SESPARSE_CONST_MAGIC = 0xcafebaben;
export const SESPARSE_VOLATILE_MAGIC = 0xcafecafen;
export const SESPARSE_VERSION = 0x200000001n;
export const SESPARSE_GRAIN_SECTORS = 8;
export const SESPARSE_GT_SECTORS = 64;
/** Entries per grain table: 64 sectors of 8-byte entries. */
export const SESPARSE_GT_ENTRIES = (SESPARSE_GT_SECTORS * 512) / 8;
export const SECTOR = 512;

/** An area of the file: first sector and length in sectors. */
export interface Area {
  offset: number;
  size: number;
}

export interface SesparseHeader {
  capacitySectors: number;
  volatileHeader: Area;
  journalHeader: Area;
  journal: Area;
  grainDirectory: Area;
  grainTables: Area;
  freeBitmap: Area;
  backmap: Area;
  grains: Area;
}

export interface SesparseVolatileHeader {
  freeGtNumber: number;
  nextTxnSeqNumber: number;
  replayJournal: number;
}

const AREAS = ['volatileHeader', 'journalHeader', 'journal', 'grainDirectory', 'grainTables', 'freeBitmap', 'backmap', 'grains'] as const;
const FIRST_AREA_FIELD = 10;
const CONST_PAD_START = 26 * 8;
const VOLATILE_PAD_START = 4 * 8;

function safe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`SEsparse ${what} ${value} is out of range`);
  return Number(value);
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

/** True when the bytes start with the constant header's magic. */
export function isSesparse(buf: Uint8Array): boolean {
  if (buf.length < 8) return false;
  return new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true) === SESPARSE_CONST_MAGIC;
}

function readSector(file: RandomAccessFile, sector: number, what: string): Uint8Array {
  const raw = new Uint8Array(SECTOR);
  if (file.read(raw, sector * SECTOR) < SECTOR) throw new Error(`SEsparse file too short for its ${what}`);
  return raw;
}

export function readSesparseHeader(file: RandomAccessFile): SesparseHeader {
  const raw = readSector(file, 0, 'constant header');
  const view = new DataView(raw.buffer);
  const field = (i: number) => view.getBigUint64(i * 8, true);
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  if (field(0) !== SESPARSE_CONST_MAGIC) throw new Error(`not a SEsparse extent (constant header magic ${hex(field(0))})`);
  if (field(1) !== SESPARSE_VERSION) throw new Error(`unsupported SEsparse version ${hex(field(1))}`);
  if (field(3) !== BigInt(SESPARSE_GRAIN_SECTORS)) throw new Error(`unsupported SEsparse grain size ${field(3)} sectors`);
  if (field(4) !== BigInt(SESPARSE_GT_SECTORS)) throw new Error(`unsupported SEsparse grain table size ${field(4)} sectors`);
  if (field(5) !== 0n) throw new Error(`unsupported SEsparse flags ${hex(field(5))}`);
  for (let i = 6; i < 10; i++) if (field(i) !== 0n) throw new Error('SEsparse reserved header fields are not zero');
  if (!isZero(raw.subarray(CONST_PAD_START))) throw new Error('SEsparse constant header padding is not zero');
  const header = { capacitySectors: safe(field(2), 'capacity') } as SesparseHeader;
  AREAS.forEach((name, i) => {
    header[name] = {
      offset: safe(field(FIRST_AREA_FIELD + 2 * i), `${name} offset`),
      size: safe(field(FIRST_AREA_FIELD + 2 * i + 1), `${name} size`),
    };
  });
  if (header.capacitySectors === 0) throw new Error('SEsparse capacity is 0');
  const needed = Math.ceil(header.capacitySectors / (SESPARSE_GT_ENTRIES * SESPARSE_GRAIN_SECTORS));
  if ((header.grainDirectory.size * SECTOR) / 8 < needed) {
    throw new Error(`SEsparse grain directory has room for ${(header.grainDirectory.size * SECTOR) / 8} tables, the disk needs ${needed}`);
  }
  return header;
}

export function readSesparseVolatileHeader(file: RandomAccessFile, header: SesparseHeader): SesparseVolatileHeader {
  const raw = readSector(file, header.volatileHeader.offset, 'volatile header');
  const view = new DataView(raw.buffer);
  const field = (i: number) => view.getBigUint64(i * 8, true);
  if (field(0) !== SESPARSE_VOLATILE_MAGIC) throw new Error(`bad SEsparse volatile header magic 0x${field(0).toString(16)}`);
  // A journal still to replay means the grain tables may not hold the last writes (the host did not close it cleanly).
  if (field(3) !== 0n) throw new Error('SEsparse journal needs replaying (the delta was not closed cleanly)');
  if (!isZero(raw.subarray(VOLATILE_PAD_START))) throw new Error('SEsparse volatile header padding is not zero');
  return { freeGtNumber: safe(field(1), 'free grain table number'), nextTxnSeqNumber: safe(field(2), 'transaction number'), replayJournal: 0 };
}

export function encodeSesparseHeader(header: SesparseHeader): Uint8Array {
  const raw = new Uint8Array(SECTOR);
  const view = new DataView(raw.buffer);
  const set = (i: number, v: number | bigint) => view.setBigUint64(i * 8, BigInt(v), true);
  set(0, SESPARSE_CONST_MAGIC);
  set(1, SESPARSE_VERSION);
  set(2, header.capacitySectors);
  set(3, SESPARSE_GRAIN_SECTORS);
  set(4, SESPARSE_GT_SECTORS);
  AREAS.forEach((name, i) => {
    set(FIRST_AREA_FIELD + 2 * i, header[name].offset);
    set(FIRST_AREA_FIELD + 2 * i + 1, header[name].size);
  });
  return raw;
}

export function encodeSesparseVolatileHeader(v: SesparseVolatileHeader): Uint8Array {
  const raw = new Uint8Array(SECTOR);
  const view = new DataView(raw.buffer);
  view.setBigUint64(0, SESPARSE_VOLATILE_MAGIC, true);
  view.setBigUint64(8, BigInt(v.freeGtNumber), true);
  view.setBigUint64(16, BigInt(v.nextTxnSeqNumber), true);
  view.setBigUint64(24, BigInt(v.replayJournal), true);
  return raw;
}
