// VMDK descriptor text: parse and format it, and tell a descriptor from a binary extent.
//
// Conventions that qemu-img relies on (it scans with strstr, not a real parser), so formatDescriptor
// keeps them: `CID=` comes before `parentCID=`, no comment above them mentions "CID",
// `createType="..."` and `parentFileNameHint="..."` have no spaces around `=`, and extent file
// names are double-quoted. qemu only opens extents whose access is RW.

import { NO_PARENT_CID, type ExtentAccess, type ExtentType, type VmdkDescriptor, type VmdkExtent } from './vmdk-model.js';

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
