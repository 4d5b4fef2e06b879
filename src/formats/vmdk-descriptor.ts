// VMDK text descriptors: parse, format, and build the kinds ESX hosts and exports use.
//
// Conventions that qemu-img relies on (it scans with strstr, not a real parser), so formatDescriptor
// keeps them: `CID=` comes before `parentCID=`, no comment above them mentions "CID",
// `createType="..."` and `parentFileNameHint="..."` have no spaces around `=`, and extent file
// names are double-quoted. qemu only opens extents whose access is RW.

export const SECTOR_SIZE = 512;
/** parentCID of a disk that has no parent. */
export const NO_PARENT_CID = 0xffffffff;
/** 2 GiB in sectors: the default size of each extent in a twoGbMaxExtentFlat export. */
export const TWO_GB_EXTENT_SECTORS = 4194304;

/** createType values ESX hosts and exports use; parseDescriptor accepts any string. */
export type KnownCreateType =
  | 'vmfs'
  | 'vmfsThin'
  | 'vmfsSparse'
  | 'vmfsRDM'
  | 'vmfsPassthroughRawDeviceMap'
  | 'seSparse'
  | 'monolithicFlat'
  | 'monolithicSparse'
  | 'twoGbMaxExtentFlat'
  | 'twoGbMaxExtentSparse'
  | 'streamOptimized';

export type ExtentAccess = 'RW' | 'RDONLY' | 'NOACCESS';
export type ExtentType =
  | 'FLAT'
  | 'SPARSE'
  | 'ZERO'
  | 'VMFS'
  | 'VMFSSPARSE'
  | 'VMFSRDM'
  | 'VMFSRAW'
  | 'SESPARSE';

export interface VmdkExtent {
  access: ExtentAccess;
  sectors: number;
  type: ExtentType;
  /** Absent only for ZERO extents. Relative to the descriptor's directory unless absolute. */
  fileName?: string;
  /** Start of the extent inside its file, in sectors (FLAT extents). */
  offset?: number;
}

export interface HeaderEntry {
  key: string;
  value: string;
  quoted: boolean;
}

export interface VmdkDescriptor {
  version: number;
  encoding?: string;
  cid: number;
  parentCid: number;
  createType: KnownCreateType | (string & {});
  parentFileNameHint?: string;
  /** Other header settings (e.g. isNativeSnapshot), kept in their order. */
  extraHeader: HeaderEntry[];
  extents: VmdkExtent[];
  /** The Disk Data Base: `ddb.*` keys (with the prefix) in file order. */
  ddb: Map<string, string>;
}

const EXTENT_TYPES: ReadonlySet<string> = new Set([
  'FLAT', 'SPARSE', 'ZERO', 'VMFS', 'VMFSSPARSE', 'VMFSRDM', 'VMFSRAW', 'SESPARSE',
]);
const EXTENT_START = /^(RW|RDONLY|NOACCESS)\s/;
const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/;
const SETTING_LINE = /^([A-Za-z][A-Za-z0-9_.:-]*)\s*=\s*(.*?)\s*$/;

export class DescriptorParseError extends Error {
  constructor(
    message: string,
    readonly lineNumber: number,
    readonly line: string,
  ) {
    super(`${message} at line ${lineNumber}: ${JSON.stringify(line)}`);
    this.name = 'DescriptorParseError';
  }
}

/** True when the bytes look like a text descriptor rather than a binary extent. */
export function isDescriptor(buf: Uint8Array): boolean {
  const head = Buffer.from(buf.subarray(0, Math.min(buf.length, 1024))).toString('latin1');
  if (head.includes('\0')) return false;
  return /^\s*# Disk DescriptorFile/.test(head) || /^(\s*#[^\n]*\n|\s*\n)*\s*version=\d/.test(head);
}

function unquote(raw: string): { value: string; quoted: boolean } {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    return { value: raw.slice(1, -1), quoted: true };
  }
  return { value: raw, quoted: false };
}

function parseCid(raw: string, lineNumber: number, line: string): number {
  if (!/^[0-9a-fA-F]{1,8}$/.test(raw)) throw new DescriptorParseError('invalid CID', lineNumber, line);
  return Number.parseInt(raw, 16);
}

function parseExtent(line: string, lineNumber: number): VmdkExtent {
  const match = EXTENT_LINE.exec(line);
  if (!match) throw new DescriptorParseError('malformed extent line', lineNumber, line);
  const [, access, sectorsText, typeText, fileName, offsetText] = match;
  const type = typeText!.toUpperCase();
  if (!EXTENT_TYPES.has(type)) {
    throw new DescriptorParseError(`unknown extent type ${typeText}`, lineNumber, line);
  }
  const sectors = Number(sectorsText);
  if (!Number.isSafeInteger(sectors) || sectors <= 0) {
    throw new DescriptorParseError('extent size must be a positive number of sectors', lineNumber, line);
  }
  if (type !== 'ZERO' && fileName === undefined) {
    throw new DescriptorParseError(`${type} extent needs a quoted file name`, lineNumber, line);
  }
  if (type === 'FLAT' && offsetText === undefined) {
    throw new DescriptorParseError('FLAT extent needs an offset', lineNumber, line);
  }
  if (type !== 'FLAT' && offsetText !== undefined) {
    throw new DescriptorParseError(`${type} extent takes no offset`, lineNumber, line);
  }
  const extent: VmdkExtent = { access: access as ExtentAccess, sectors, type: type as ExtentType };
  if (fileName !== undefined) extent.fileName = fileName;
  if (offsetText !== undefined) extent.offset = Number(offsetText);
  return extent;
}

export function parseDescriptor(text: string): VmdkDescriptor {
  const descriptor: VmdkDescriptor = {
    version: 1,
    cid: 0xfffffffe,
    parentCid: NO_PARENT_CID,
    createType: '',
    extraHeader: [],
    extents: [],
    ddb: new Map(),
  };
  let sawCreateType = false;
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const lineNumber = index + 1;
    const line = rawLine.replace(/\0+$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    if (EXTENT_START.test(line)) {
      descriptor.extents.push(parseExtent(line, lineNumber));
      return;
    }
    const setting = SETTING_LINE.exec(line);
    if (!setting) return;
    const key = setting[1]!;
    const { value, quoted } = unquote(setting[2]!);
    if (key.startsWith('ddb.')) {
      descriptor.ddb.set(key, value);
      return;
    }
    switch (key) {
      case 'version':
        descriptor.version = Number.parseInt(value, 10);
        if (!Number.isInteger(descriptor.version)) {
          throw new DescriptorParseError('invalid version', lineNumber, rawLine);
        }
        break;
      case 'encoding':
        descriptor.encoding = value;
        break;
      case 'CID':
        descriptor.cid = parseCid(value, lineNumber, rawLine);
        break;
      case 'parentCID':
        descriptor.parentCid = parseCid(value, lineNumber, rawLine);
        break;
      case 'createType':
        descriptor.createType = value;
        sawCreateType = true;
        break;
      case 'parentFileNameHint':
        descriptor.parentFileNameHint = value;
        break;
      default:
        descriptor.extraHeader.push({ key, value, quoted });
    }
  });
  if (!sawCreateType) throw new Error('VMDK descriptor has no createType');
  return descriptor;
}

export function formatCid(cid: number): string {
  return (cid >>> 0).toString(16).padStart(8, '0');
}

function formatExtent(extent: VmdkExtent): string {
  let line = `${extent.access} ${extent.sectors} ${extent.type}`;
  if (extent.fileName !== undefined) line += ` "${extent.fileName}"`;
  if (extent.offset !== undefined) line += ` ${extent.offset}`;
  return line;
}

export function formatDescriptor(descriptor: VmdkDescriptor): string {
  const lines = ['# Disk DescriptorFile', `version=${descriptor.version}`];
  if (descriptor.encoding !== undefined) lines.push(`encoding="${descriptor.encoding}"`);
  lines.push(`CID=${formatCid(descriptor.cid)}`, `parentCID=${formatCid(descriptor.parentCid)}`);
  for (const entry of descriptor.extraHeader) {
    lines.push(`${entry.key}=${entry.quoted ? `"${entry.value}"` : entry.value}`);
  }
  lines.push(`createType="${descriptor.createType}"`);
  if (descriptor.parentFileNameHint !== undefined) {
    lines.push(`parentFileNameHint="${descriptor.parentFileNameHint}"`);
  }
  lines.push('', '# Extent description', ...descriptor.extents.map(formatExtent));
  lines.push('', '# The Disk Data Base', '#DDB', '');
  for (const [key, value] of descriptor.ddb) lines.push(`${key} = "${value}"`);
  return lines.join('\n') + '\n';
}

/** A fresh content ID: random 32 bits, never 0 nor the reserved values fffffff0..ffffffff. */
export function newCid(): number {
  for (;;) {
    const cid = crypto.getRandomValues(new Uint32Array(1))[0]!;
    if (cid !== 0 && cid < 0xfffffff0) return cid;
  }
}

export function capacitySectors(descriptor: VmdkDescriptor): number {
  return descriptor.extents.reduce((sum, extent) => sum + extent.sectors, 0);
}

export function capacityBytes(descriptor: VmdkDescriptor): number {
  return capacitySectors(descriptor) * SECTOR_SIZE;
}

function geometryDdb(sectors: number): Array<[string, string]> {
  const cylinders = Math.min(Math.max(1, Math.floor(sectors / (255 * 63))), 65535);
  return [
    ['ddb.geometry.cylinders', String(cylinders)],
    ['ddb.geometry.heads', '255'],
    ['ddb.geometry.sectors', '63'],
  ];
}

export interface BaseDescriptorOptions {
  capacitySectors: number;
  /** The flat extent's file name, e.g. "web01-flat.vmdk". */
  flatFileName: string;
  thin?: boolean;
  adapterType?: string;
  cid?: number;
  /** Space-separated hex bytes, as VMware writes ddb.uuid. */
  uuid?: string;
  virtualHWVersion?: string;
}

function baseDdb(options: BaseDescriptorOptions): Map<string, string> {
  const ddb = new Map<string, string>([['ddb.adapterType', options.adapterType ?? 'lsilogic']]);
  for (const [key, value] of geometryDdb(options.capacitySectors)) ddb.set(key, value);
  if (options.uuid !== undefined) ddb.set('ddb.uuid', options.uuid);
  ddb.set('ddb.virtualHWVersion', options.virtualHWVersion ?? '7');
  if (options.thin) ddb.set('ddb.thinProvisioned', '1');
  return ddb;
}

/** A VM's disk on a VMFS datastore: `createType="vmfs"`, one VMFS extent. */
export function buildBaseDescriptor(options: BaseDescriptorOptions): VmdkDescriptor {
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: NO_PARENT_CID,
    createType: 'vmfs',
    extraHeader: [],
    extents: [{ access: 'RW', sectors: options.capacitySectors, type: 'VMFS', fileName: options.flatFileName }],
    ddb: baseDdb(options),
  };
}

export interface SnapshotDescriptorOptions {
  capacitySectors: number;
  /** The delta's file name, e.g. "web01-000001-delta.vmdk". */
  deltaFileName: string;
  /** The parent descriptor's file name, e.g. "web01.vmdk". */
  parentFileNameHint: string;
  parentCid: number;
  cid?: number;
  adapterType?: string;
}

/** A snapshot child on VMFS: `createType="vmfsSparse"` over a COWD delta. */
export function buildSnapshotDescriptor(options: SnapshotDescriptorOptions): VmdkDescriptor {
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: options.parentCid,
    createType: 'vmfsSparse',
    parentFileNameHint: options.parentFileNameHint,
    extraHeader: [],
    extents: [
      { access: 'RW', sectors: options.capacitySectors, type: 'VMFSSPARSE', fileName: options.deltaFileName },
    ],
    ddb: new Map([['ddb.adapterType', options.adapterType ?? 'lsilogic']]),
  };
}

export interface ExportDescriptorOptions {
  capacitySectors: number;
  adapterType?: string;
  cid?: number;
}

/** An export as one flat file: `createType="monolithicFlat"`, `RW n FLAT "x-flat.vmdk" 0`. */
export function buildMonolithicFlatDescriptor(
  options: ExportDescriptorOptions & { flatFileName: string },
): VmdkDescriptor {
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: NO_PARENT_CID,
    createType: 'monolithicFlat',
    extraHeader: [],
    extents: [{ access: 'RW', sectors: options.capacitySectors, type: 'FLAT', fileName: options.flatFileName, offset: 0 }],
    ddb: new Map([['ddb.adapterType', options.adapterType ?? 'lsilogic'], ...geometryDdb(options.capacitySectors)]),
  };
}

/** File name of the n-th (1-based) extent of a split export: "web01.vmdk" -> "web01-f001.vmdk". */
export function splitExtentFileName(descriptorFileName: string, index: number): string {
  const stem = descriptorFileName.replace(/\.vmdk$/i, '');
  return `${stem}-f${String(index).padStart(3, '0')}.vmdk`;
}

/**
 * An export split into flat files of at most `extentSectors` each (default 2 GiB):
 * `createType="twoGbMaxExtentFlat"`. VMware's own tools cut at 2047 MiB (4192256 sectors);
 * any size is readable, so the limit is a parameter.
 */
export function buildTwoGbMaxExtentFlatDescriptor(
  options: ExportDescriptorOptions & { descriptorFileName: string; extentSectors?: number },
): VmdkDescriptor {
  const extentSectors = options.extentSectors ?? TWO_GB_EXTENT_SECTORS;
  const extents: VmdkExtent[] = [];
  for (let start = 0; start < options.capacitySectors; start += extentSectors) {
    extents.push({
      access: 'RW',
      sectors: Math.min(extentSectors, options.capacitySectors - start),
      type: 'FLAT',
      fileName: splitExtentFileName(options.descriptorFileName, extents.length + 1),
      offset: 0,
    });
  }
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: NO_PARENT_CID,
    createType: 'twoGbMaxExtentFlat',
    extraHeader: [],
    extents,
    ddb: new Map([['ddb.adapterType', options.adapterType ?? 'lsilogic'], ...geometryDdb(options.capacitySectors)]),
  };
}
