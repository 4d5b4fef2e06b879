// purpose: tell which file system (or swap, or LVM physical volume) a volume holds, with its label, UUID and dirty state, from its on-disk signatures.
//
// Facts relied on, per format (offsets from the volume's start):
// - NTFS: OEM name "NTFS    " at 3; bytes per sector u16 at 11; sectors per cluster u8 at 13 (a value above 0x80 is
//   2^(256 - value)); $MFT cluster u64 at 0x30; clusters per MFT record i8 at 0x40 (negative: 2^-value bytes); serial
//   u64 at 0x48. MFT record 3 is $Volume; a record starts "FILE", its update sequence (offset u16 at 4, count u16 at 6)
//   replaces the last two bytes of every 512-byte block, its attributes start at u16 0x14 and end with type
//   0xFFFFFFFF; an attribute has type u32 at 0, length u32 at 4, non-resident u8 at 8 and, when resident, value length
//   u32 at 16 and value offset u16 at 20. $VOLUME_NAME (0x60) is UTF-16LE; $VOLUME_INFORMATION (0x70) has flags u16
//   at 10 of its value, 0x0001 = dirty.
// - FAT: BIOS parameter block: bytes per sector u16 at 11, sectors per cluster u8 at 13, reserved sectors u16 at 14,
//   FAT count u8 at 16, root entries u16 at 17, sectors u16 at 19 (else u32 at 32), media u8 at 21, sectors per FAT
//   u16 at 22 (else FAT32's u32 at 36, root cluster u32 at 44). Extended BPB (signature 0x28/0x29) at 38 (FAT12/16)
//   or 66 (FAT32): serial u32 at +1, label 11 bytes at +5 ("NO NAME    " = none). The count of data clusters decides
//   FAT12 (< 4085), FAT16 (< 65525) or FAT32. A root-directory entry with attribute 0x08 is the volume label, and is
//   the one in use when it exists.
// - exFAT: "EXFAT   " at 3; cluster heap offset u32 at 88 (sectors); root directory cluster u32 at 96; serial u32
//   at 100; volume flags u16 at 106 (0x0002 = dirty); bytes-per-sector shift at 108, sectors-per-cluster shift at 109.
//   The root directory's entry of type 0x83 holds the label: character count at 1, UTF-16LE at 2.
// - ext2/3/4: superblock at 1024: magic 0xEF53 at +56, state u16 at +58 (bit 0 clean, bit 1 errors), revision at +76,
//   feature words compat +92, incompat +96, ro_compat +100, UUID +104, label 16 bytes +120. Compat 0x4 = journal;
//   incompat 0x4 = journal needs recovery, 0x8 = is an external journal; ext3 knows incompat 0x2/0x4/0x10 and
//   ro_compat 0x1/0x2/0x4: any other feature makes it ext4.
// - XFS: "XFSB" at 0, block size u32 big-endian at 4, UUID at 32, label 12 bytes at 108.
// - btrfs: superblock at 64 KiB: UUID at +0x20, magic "_BHRfS_M" at +0x40, log tree root u64 at +0x60 (non-zero: a
//   log to replay), label 256 bytes at +0x12B.
// - Linux swap: "SWAPSPACE2" (or the old "SWAP-SPACE") in the last 10 bytes of the first page; version 1 header at
//   1024: UUID at +12, label 16 bytes at +28. Hibernation images replace the signature ("S1SUSPEND" and kin).
// - LVM2 PV: in one of the first four sectors "LABELONE", that sector's number u64 at 8, content offset u32 at 20,
//   "LVM2 001" at 24; the PV UUID is 32 characters at the content offset.

import { readPadded, type ReadAt } from '../formats/partition-table.js';

export type FsType = 'ntfs' | 'fat12' | 'fat16' | 'fat32' | 'exfat' | 'ext2' | 'ext3' | 'ext4' | 'xfs' | 'btrfs' | 'swap' | 'lvm2' | 'unknown';

export interface FsProbe {
  type: FsType;
  label?: string;
  /** As blkid shows it: a UUID for ext/XFS/btrfs/swap, "XXXX-XXXX" for FAT/exFAT, 16 hex digits for NTFS. */
  uuid?: string;
  /** Not cleanly unmounted or a journal/log to replay: a read-only mount may refuse it or see stale data. */
  dirty?: boolean;
  /** Something worth telling: why it is dirty, why the label was not read, other signatures on the same volume. */
  detail?: string;
}

/** Bytes read at once from a volume's start: everything up to btrfs's superblock and the largest swap page. */
const HEAD_BYTES = 64 * 1024 + 4096;
/** At most this much of a root directory is searched for a label entry: labels sit among its first entries. */
const ROOT_SCAN_BYTES = 64 * 1024;

interface Found {
  type: FsType;
  parse: () => Promise<FsProbe>;
}

/** Finds the file system of the `size`-byte volume at `offset`; 'unknown' when no signature matches. */
export async function probeFileSystem(read: ReadAt, offset: number, size: number): Promise<FsProbe> {
  if (size < 512) return { type: 'unknown', detail: `volume of ${size} bytes is too small to hold a file system` };
  const volume: ReadAt = (at, length) => {
    const len = Math.max(0, Math.min(length, size - at));
    return len === 0 ? Promise.resolve(Buffer.alloc(0)) : read(offset + at, len);
  };
  const head = await readPadded(volume, 0, HEAD_BYTES);
  const found = signatures(head, volume, size);
  const first = found[0];
  if (!first) return { type: 'unknown' };
  const probe = await first.parse();
  const others = [...new Set(found.slice(1).map((f) => f.type))].filter((t) => t !== probe.type);
  if (others.length) probe.detail = joinDetail(probe.detail, `also carries ${others.join(', ')} signature${others.length > 1 ? 's' : ''}`);
  return probe;
}

/** Every signature present, most telling first: boot-sector formats, then LVM and swap, then superblocks further in. */
function signatures(head: Buffer, volume: ReadAt, size: number): Found[] {
  const found: Found[] = [];
  const oem = head.subarray(3, 11).toString('latin1');
  if (oem === 'NTFS    ') found.push({ type: 'ntfs', parse: () => parseNtfs(head, volume, size) });
  if (oem === 'EXFAT   ') found.push({ type: 'exfat', parse: () => parseExfat(head, volume, size) });
  const fat = fatGeometry(head);
  if (fat) found.push({ type: fat.type, parse: () => parseFat(head, fat, volume, size) });
  const lvm = lvmLabel(head);
  if (lvm) found.push({ type: 'lvm2', parse: async () => lvm });
  const swap = swapArea(head);
  if (swap) found.push({ type: 'swap', parse: async () => swap });
  if (head.subarray(0, 4).toString('latin1') === 'XFSB') {
    const blockSize = head.readUInt32BE(4);
    if (blockSize >= 512 && blockSize <= 65536 && (blockSize & (blockSize - 1)) === 0) {
      found.push({ type: 'xfs', parse: async () => withText({ type: 'xfs' }, cString(head.subarray(108, 120)), uuidText(head.subarray(32, 48))) });
    }
  }
  const ext = head.subarray(1024, 2048);
  if (ext.readUInt16LE(56) === 0xef53 && ext.readUInt32LE(24) <= 6) {
    const probe = parseExt(ext);
    found.push({ type: probe.type, parse: async () => probe });
  }
  const btrfs = head.subarray(65536, 65536 + 4096);
  if (size >= 65536 + 4096 && btrfs.subarray(0x40, 0x48).toString('latin1') === '_BHRfS_M') {
    found.push({ type: 'btrfs', parse: async () => parseBtrfs(btrfs) });
  }
  return found;
}

function joinDetail(a: string | undefined, b: string): string {
  return a ? `${a}; ${b}` : b;
}

function withText(probe: FsProbe, label: string | undefined, uuid: string | undefined): FsProbe {
  if (label) probe.label = label;
  if (uuid) probe.uuid = uuid;
  return probe;
}

/** Text up to the first NUL, as UTF-8. */
function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

/** 16 bytes in the usual 8-4-4-4-12 form, in byte order (how ext, XFS, btrfs and swap store theirs); undefined when all zero. */
function uuidText(bytes: Buffer): string | undefined {
  if (bytes.every((b) => b === 0)) return undefined;
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A 32-bit volume serial the way DOS and blkid show it. */
function serialText(serial: number): string {
  const h = serial.toString(16).toUpperCase().padStart(8, '0');
  return `${h.slice(0, 4)}-${h.slice(4)}`;
}

// ---------------------------------------------------------------------------------------------------------------- ext

const EXT_COMPAT_HAS_JOURNAL = 0x4;
const EXT_INCOMPAT_RECOVER = 0x4;
const EXT_INCOMPAT_JOURNAL_DEV = 0x8;
const EXT3_INCOMPAT_KNOWN = 0x2 | 0x4 | 0x10;
const EXT3_RO_COMPAT_KNOWN = 0x1 | 0x2 | 0x4;

function parseExt(sb: Buffer): FsProbe {
  const revision = sb.readUInt32LE(76);
  const compat = revision >= 1 ? sb.readUInt32LE(92) : 0;
  const incompat = revision >= 1 ? sb.readUInt32LE(96) : 0;
  const roCompat = revision >= 1 ? sb.readUInt32LE(100) : 0;
  if (incompat & EXT_INCOMPAT_JOURNAL_DEV) return { type: 'unknown', detail: 'an external ext3/ext4 journal device' };
  const type: FsType =
    incompat & ~EXT3_INCOMPAT_KNOWN || roCompat & ~EXT3_RO_COMPAT_KNOWN ? 'ext4' : compat & EXT_COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
  const probe = revision >= 1 ? withText({ type }, cString(sb.subarray(120, 136)), uuidText(sb.subarray(104, 120))) : { type };
  const state = sb.readUInt16LE(58);
  const why: string[] = [];
  if (incompat & EXT_INCOMPAT_RECOVER) why.push('its journal needs recovery');
  if (!(state & 0x1)) why.push('not cleanly unmounted');
  probe.dirty = why.length > 0;
  if (state & 0x2) why.push('errors recorded in the superblock');
  if (why.length) probe.detail = why.join('; ');
  return probe;
}

// -------------------------------------------------------------------------------------------------------------- btrfs

function parseBtrfs(sb: Buffer): FsProbe {
  const probe = withText({ type: 'btrfs' }, cString(sb.subarray(0x12b, 0x12b + 256)), uuidText(sb.subarray(0x20, 0x30)));
  probe.dirty = sb.readBigUInt64LE(0x60) !== 0n;
  if (probe.dirty) probe.detail = 'a log tree to replay';
  return probe;
}

// ---------------------------------------------------------------------------------------------------- swap and LVM2

function swapArea(head: Buffer): FsProbe | undefined {
  for (const page of [4096, 8192, 16384, 65536]) {
    const magic = head.subarray(page - 10, page).toString('latin1');
    if (magic === 'SWAPSPACE2') {
      const version = head.readUInt32LE(1024);
      if (version !== 1) return { type: 'swap', detail: `swap header version ${version}` };
      return withText({ type: 'swap' }, cString(head.subarray(1052, 1068)), uuidText(head.subarray(1036, 1052)));
    }
    if (magic === 'SWAP-SPACE') return { type: 'swap', detail: 'old (version 0) swap area' };
    const hibernation = ['S1SUSPEND', 'S2SUSPEND', 'ULSUSPEND', 'LINHIB0001'].find((m) => head.subarray(page - 10, page).toString('latin1').startsWith(m));
    if (hibernation) return { type: 'swap', detail: `holds a hibernation image (${hibernation})` };
  }
  return undefined;
}

function lvmLabel(head: Buffer): FsProbe | undefined {
  for (let s = 0; s < 4; s++) {
    const sector = head.subarray(s * 512, (s + 1) * 512);
    if (sector.subarray(0, 8).toString('latin1') !== 'LABELONE') continue;
    if (sector.readBigUInt64LE(8) !== BigInt(s) || sector.subarray(24, 32).toString('latin1') !== 'LVM2 001') continue;
    const at = sector.readUInt32LE(20);
    if (at < 32 || at + 32 > 512) continue;
    const id = sector.subarray(at, at + 32).toString('latin1');
    // LVM shows a PV UUID as 6-4-4-4-4-4-6 characters.
    let from = 0;
    const uuid = [6, 4, 4, 4, 4, 4, 6].map((n) => id.slice(from, (from += n))).join('-');
    return { type: 'lvm2', uuid };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------- FAT

interface FatGeometry {
  type: 'fat12' | 'fat16' | 'fat32';
  bytesPerSector: number;
  clusterBytes: number;
  /** Byte offset of the data area (cluster 2). */
  dataStart: number;
  /** FAT12/16: the fixed root directory's offset and size. */
  rootStart: number;
  rootBytes: number;
  /** FAT32: the root directory's first cluster. */
  rootCluster: number;
  /** Offset of the extended BPB. */
  ebpb: number;
}

function fatGeometry(bs: Buffer): FatGeometry | undefined {
  if (bs.readUInt16LE(510) !== 0xaa55) return undefined;
  const jump = bs[0] === 0xeb ? bs[2] === 0x90 : bs[0] === 0xe9;
  const bytesPerSector = bs.readUInt16LE(11);
  const perCluster = bs[13]!;
  const reserved = bs.readUInt16LE(14);
  const fats = bs[16]!;
  const rootEntries = bs.readUInt16LE(17);
  const media = bs[21]!;
  if (!jump || ![512, 1024, 2048, 4096].includes(bytesPerSector)) return undefined;
  if (perCluster === 0 || (perCluster & (perCluster - 1)) !== 0 || reserved === 0 || fats === 0 || fats > 4) return undefined;
  if (media !== 0xf0 && media < 0xf8) return undefined;
  const fatSectors = bs.readUInt16LE(22) || bs.readUInt32LE(36);
  const sectors = bs.readUInt16LE(19) || bs.readUInt32LE(32);
  if (fatSectors === 0 || sectors === 0) return undefined;
  const rootSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const firstData = reserved + fats * fatSectors + rootSectors;
  if (firstData >= sectors) return undefined;
  const clusters = Math.floor((sectors - firstData) / perCluster);
  const type = clusters < 4085 ? 'fat12' : clusters < 65525 ? 'fat16' : 'fat32';
  // FAT32 has no fixed root directory; a root entry count there means this is no FAT32 after all.
  if (type === 'fat32' && (rootEntries !== 0 || bs.readUInt16LE(22) !== 0)) return undefined;
  return {
    type,
    bytesPerSector,
    clusterBytes: perCluster * bytesPerSector,
    dataStart: firstData * bytesPerSector,
    rootStart: (reserved + fats * fatSectors) * bytesPerSector,
    rootBytes: rootSectors * bytesPerSector,
    rootCluster: type === 'fat32' ? bs.readUInt32LE(44) : 0,
    ebpb: type === 'fat32' ? 64 : 36,
  };
}

async function parseFat(bs: Buffer, g: FatGeometry, volume: ReadAt, size: number): Promise<FsProbe> {
  const probe: FsProbe = { type: g.type };
  const signature = bs[g.ebpb + 2]!;
  let bpbLabel: string | undefined;
  if (signature === 0x29 || signature === 0x28) {
    probe.uuid = serialText(bs.readUInt32LE(g.ebpb + 3));
    if (signature === 0x29) {
      const text = bs.subarray(g.ebpb + 7, g.ebpb + 18).toString('latin1').replace(/[ \0]+$/, '');
      if (text && text !== 'NO NAME') bpbLabel = text;
    }
  }
  const [rootAt, rootLength] = g.type === 'fat32' ? [g.dataStart + (g.rootCluster - 2) * g.clusterBytes, g.clusterBytes] : [g.rootStart, g.rootBytes];
  let rootLabel: string | undefined;
  if ((g.type !== 'fat32' || g.rootCluster >= 2) && rootAt < size) {
    try {
      rootLabel = fatRootLabel(await readPadded(volume, rootAt, Math.min(rootLength, ROOT_SCAN_BYTES, size - rootAt)));
    } catch (error) {
      probe.detail = `root directory not read (${(error as Error).message})`;
    }
  }
  const label = rootLabel ?? bpbLabel;
  if (label) probe.label = label;
  return probe;
}

function fatRootLabel(dir: Buffer): string | undefined {
  for (let at = 0; at + 32 <= dir.length; at += 32) {
    const first = dir[at]!;
    if (first === 0) break;
    const attr = dir[at + 11]!;
    if (first === 0xe5 || attr === 0x0f || (attr & 0x18) !== 0x08) continue;
    return dir.subarray(at, at + 11).toString('latin1').replace(/[ \0]+$/, '') || undefined;
  }
  return undefined;
}

// -------------------------------------------------------------------------------------------------------------- exFAT

async function parseExfat(bs: Buffer, volume: ReadAt, size: number): Promise<FsProbe> {
  const probe: FsProbe = { type: 'exfat', uuid: serialText(bs.readUInt32LE(100)) };
  probe.dirty = (bs.readUInt16LE(106) & 0x2) !== 0;
  if (probe.dirty) probe.detail = 'volume flags say dirty';
  const sectorShift = bs[108]!;
  const clusterShift = bs[109]!;
  if (sectorShift < 9 || sectorShift > 12 || sectorShift + clusterShift > 25) {
    probe.detail = joinDetail(probe.detail, 'implausible sector or cluster size; label not read');
    return probe;
  }
  const clusterBytes = 2 ** (sectorShift + clusterShift);
  const rootAt = bs.readUInt32LE(88) * 2 ** sectorShift + (bs.readUInt32LE(96) - 2) * clusterBytes;
  if (bs.readUInt32LE(96) < 2 || rootAt >= size) {
    probe.detail = joinDetail(probe.detail, 'root directory outside the volume; label not read');
    return probe;
  }
  try {
    const dir = await readPadded(volume, rootAt, Math.min(clusterBytes, ROOT_SCAN_BYTES, size - rootAt));
    for (let at = 0; at + 32 <= dir.length; at += 32) {
      const type = dir[at]!;
      if (type === 0) break;
      if (type !== 0x83) continue;
      const count = Math.min(dir[at + 1]!, 11);
      if (count) probe.label = dir.subarray(at + 2, at + 2 + count * 2).toString('utf16le');
      break;
    }
  } catch (error) {
    probe.detail = joinDetail(probe.detail, `root directory not read (${(error as Error).message})`);
  }
  return probe;
}

// --------------------------------------------------------------------------------------------------------------- NTFS

const NTFS_VOLUME_RECORD = 3;
const ATTR_VOLUME_NAME = 0x60;
const ATTR_VOLUME_INFORMATION = 0x70;
const ATTR_END = 0xffffffff;

async function parseNtfs(bs: Buffer, volume: ReadAt, size: number): Promise<FsProbe> {
  const probe: FsProbe = { type: 'ntfs' };
  const serial = bs.readBigUInt64LE(0x48);
  if (serial !== 0n) probe.uuid = serial.toString(16).toUpperCase().padStart(16, '0');
  try {
    const record = await readVolumeRecord(bs, volume, size);
    for (const attr of residentAttributes(record)) {
      if (attr.type === ATTR_VOLUME_NAME && attr.value.length) probe.label = attr.value.toString('utf16le');
      if (attr.type === ATTR_VOLUME_INFORMATION && attr.value.length >= 12) {
        probe.dirty = (attr.value.readUInt16LE(10) & 0x0001) !== 0;
        if (probe.dirty) probe.detail = 'volume flags say dirty';
      }
    }
  } catch (error) {
    probe.detail = `label and dirty flag not read: ${(error as Error).message}`;
  }
  return probe;
}

/** $Volume's MFT record, its update sequence applied. The MFT's first records are contiguous from its first cluster. */
async function readVolumeRecord(bs: Buffer, volume: ReadAt, size: number): Promise<Buffer> {
  const bytesPerSector = bs.readUInt16LE(11);
  if (bytesPerSector < 256 || bytesPerSector > 4096 || (bytesPerSector & (bytesPerSector - 1)) !== 0) {
    throw new Error(`implausible bytes per sector ${bytesPerSector}`);
  }
  const rawPerCluster = bs[13]!;
  const clusterBytes = bytesPerSector * (rawPerCluster > 0x80 ? 2 ** (256 - rawPerCluster) : rawPerCluster);
  const perRecord = bs.readInt8(0x40);
  const recordBytes = perRecord > 0 ? perRecord * clusterBytes : 2 ** -perRecord;
  if (clusterBytes === 0 || recordBytes < 512 || recordBytes > 65536) throw new Error(`implausible cluster (${clusterBytes}) or MFT record (${recordBytes}) size`);
  const at = Number(bs.readBigUInt64LE(0x30)) * clusterBytes + NTFS_VOLUME_RECORD * recordBytes;
  if (!Number.isSafeInteger(at) || at + recordBytes > size) throw new Error(`$Volume's MFT record (byte ${at}) lies outside the volume`);
  const record = Buffer.from(await readPadded(volume, at, recordBytes));
  if (record.subarray(0, 4).toString('latin1') !== 'FILE') throw new Error(`no "FILE" record at byte ${at}`);
  const usaAt = record.readUInt16LE(4);
  const usaCount = record.readUInt16LE(6);
  if (usaCount < 2 || usaAt + usaCount * 2 > recordBytes || (usaCount - 1) * 512 > recordBytes) throw new Error('implausible update sequence');
  const usn = record.readUInt16LE(usaAt);
  for (let i = 1; i < usaCount; i++) {
    const end = i * 512 - 2;
    if (record.readUInt16LE(end) !== usn) throw new Error(`$Volume's MFT record is torn (update sequence mismatch in block ${i})`);
    record.writeUInt16LE(record.readUInt16LE(usaAt + i * 2), end);
  }
  return record;
}

function residentAttributes(record: Buffer): Array<{ type: number; value: Buffer }> {
  const out: Array<{ type: number; value: Buffer }> = [];
  const used = Math.min(record.readUInt32LE(0x18), record.length);
  let at = record.readUInt16LE(0x14);
  while (at + 8 <= used) {
    const type = record.readUInt32LE(at);
    if (type === ATTR_END) break;
    const length = record.readUInt32LE(at + 4);
    if (length < 16 || at + length > used) break;
    if (record[at + 8] === 0 && length >= 24) {
      const valueLength = record.readUInt32LE(at + 16);
      const valueAt = record.readUInt16LE(at + 20);
      if (valueAt + valueLength <= length) out.push({ type, value: record.subarray(at + valueAt, at + valueAt + valueLength) });
    }
    at += length;
  }
  return out;
}
