// The COWD (vmfsSparse) header: its on-disk layout, decoding with sanity checks, encoding, and the magic test.
//
// On-disk layout (little-endian uint32 fields; offsets in bytes; "sectors" are 512 bytes):
//   0 magic "COWD"   4 version (1)   8 flags (3)   12 numSectors   16 grainSize (sectors)
//   20 gdOffset (sectors)   24 numGDEntries   28 freeSector (first unused sector)
//   32 union: root disk {cylinders, heads, sectors} | child {parentFileName[1024], parentGeneration}
//   1060 generation   1064 name[60]   1124 description[512]   1636 savedGeneration
//   1640 reserved[8]   1648 uncleanShutdown   1652..2048 padding      (header = 4 sectors)
// The grain directory (GD) at gdOffset holds numGDEntries sector offsets of grain tables (GT);
// each GT holds 4096 sector offsets of grains; 0 means "not in this delta, read the parent".
import type { RandomAccessFile } from './random-access.js';

export const COWD_MAGIC = 'COWD';
export const COWD_HEADER_SECTORS = 4;
export const COWD_GT_ENTRIES = 4096;
export const SECTOR = 512;
export const GT_BYTES = COWD_GT_ENTRIES * 4;
const PARENT_NAME_BYTES = 1024;
const FREE_SECTOR_OFFSET = 28;

export interface CowdHeader {
  capacitySectors: number;
  grainSectors: number;
  gdOffset: number;
  gdEntries: number;
  freeSector: number;
  parentFileName?: string;
}

export function readHeader(file: RandomAccessFile): CowdHeader {
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

export function encodeHeader(header: CowdHeader): Uint8Array {
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

export function uint32Bytes(value: number): Uint8Array {
  const raw = new Uint8Array(4);
  new DataView(raw.buffer).setUint32(0, value, true);
  return raw;
}

/** Rewrites the header's freeSector field alone. */
export function writeFreeSectorField(file: RandomAccessFile, sector: number): void {
  file.write(uint32Bytes(sector), FREE_SECTOR_OFFSET);
}

/** True when the bytes start with the COWD magic. */
export function isCowd(buf: Uint8Array): boolean {
  return buf.length >= 4 && Buffer.from(buf.subarray(0, 4)).toString('latin1') === COWD_MAGIC;
}
