// Parser for `vmkfstools -t0 <disk>`: the disk's extents and where each lies on the LUN (or that it is a hole).

import { unexpectedOutput } from '../host-error.js';
import { nonBlankLines, type NumberedLine } from './lines.js';

export type ExtentKind = 'mapped' | 'unzeroed' | 'hole';

export interface DiskExtent {
  /** Byte offset in the virtual disk file. */
  fileOffset: number;
  length: number;
  /** mapped: data on the LUN; unzeroed: allocated but reads as zeros; hole: unallocated, reads as zeros. */
  kind: ExtentKind;
  /** Byte offset on the LUN (mapped and unzeroed only). */
  lunOffset?: number;
  lvid?: string;
  volumeUuid?: string;
  /** LVM extent (partition) number within the volume. */
  lvmExtent?: number;
}

export interface BlockMap {
  path: string;
  size: number;
  extents: DiskExtent[];
}

const NUM = '(0x[0-9a-fA-F]+|\\d+)';
const HEADER = /^Mapping for file (.+) \((\d+) bytes in size\):?$/;
const EXTENT = new RegExp(
  `^\\[\\s*${NUM}\\s*:\\s*${NUM}\\s*\\]\\s*-->\\s*\\[\\s*([A-Z]+)\\s*([Z-]-)\\s*` +
    `(?:LVID:([^/\\s]+)/([^/\\s]+)/(\\d+))?\\s*:\\s*\\(\\s*${NUM}\\s*-->\\s*${NUM}\\s*\\)\\s*\\]$`,
);

function toNumber(token: string, command: readonly string[], line: NumberedLine): number {
  const n = token.startsWith('0x') ? Number.parseInt(token.slice(2), 16) : Number(token);
  if (!Number.isSafeInteger(n)) throw unexpectedOutput(command, `number out of range: ${token}`, line);
  return n;
}

function parseExtent(line: NumberedLine, command: readonly string[]): DiskExtent {
  const m = EXTENT.exec(line.text.trim());
  if (!m) throw unexpectedOutput(command, 'not an extent line', line);
  const [, off, len, tag, flags, lvid, volumeUuid, lvmExtent, lunStart, lunEnd] = m;
  const extent: DiskExtent = {
    fileOffset: toNumber(off!, command, line),
    length: toNumber(len!, command, line),
    kind: 'hole',
  };
  if (tag === 'NOMP') return extent;
  if (tag !== 'VMFS' || lvid === undefined) throw unexpectedOutput(command, `unknown extent kind "${tag} ${flags}"`, line);
  extent.kind = flags === 'Z-' ? 'unzeroed' : 'mapped';
  const start = toNumber(lunStart!, command, line);
  const end = toNumber(lunEnd!, command, line);
  if (end !== start + extent.length && end !== start + extent.length - 1) {
    throw unexpectedOutput(command, 'LUN range does not match the extent length', line);
  }
  return { ...extent, lunOffset: start, lvid, volumeUuid: volumeUuid!, lvmExtent: Number(lvmExtent) };
}

/** Extents come back in file order; they must be contiguous from 0 and add up to the size, else an error. */
export function parseBlockMap(output: string, command: readonly string[] = ['vmkfstools', '-t0']): BlockMap {
  const lines = nonBlankLines(output);
  const headerIndex = lines.findIndex((l) => HEADER.test(l.text.trim()));
  if (headerIndex < 0) throw unexpectedOutput(command, 'no "Mapping for file ... bytes in size" header', lines[0]);
  if (headerIndex > 0) throw unexpectedOutput(command, 'text before the mapping header', lines[0]);
  const headerLine = lines[headerIndex]!;
  const header = HEADER.exec(headerLine.text.trim())!;
  const size = toNumber(header[2]!, command, headerLine);
  const extents: DiskExtent[] = [];
  let expectedOffset = 0;
  for (const line of lines.slice(headerIndex + 1)) {
    const extent = parseExtent(line, command);
    if (extent.fileOffset !== expectedOffset) {
      throw unexpectedOutput(command, `extent starts at ${extent.fileOffset}, expected ${expectedOffset}`, line);
    }
    if (extent.length <= 0) throw unexpectedOutput(command, 'empty extent', line);
    expectedOffset += extent.length;
    extents.push(extent);
  }
  if (expectedOffset !== size) {
    throw unexpectedOutput(command, `extents cover ${expectedOffset} bytes, the header says ${size}`);
  }
  return { path: header[1]!, size, extents };
}
