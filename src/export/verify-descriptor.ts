// A verify's check of one disk's descriptor against the catalog, and the extent layout the data is read through.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescriptorParseError, parseDescriptor, SECTOR_SIZE, TWO_GB_EXTENT_SECTORS, type VmdkDescriptor } from '../formats/vmdk-descriptor.js';
import type { Catalog, CatalogDisk } from './catalog.js';
import type { VerifyProblem } from './verify-problems.js';

/** One extent file's place in the virtual disk. */
export interface ExtentSpan {
  /** File name relative to the export directory. */
  file: string;
  /** Where the extent starts in the virtual disk, bytes. */
  diskStart: number;
  length: number;
  /** Where the extent's first byte is in its file (a FLAT extent's offset), bytes. */
  fileStart: number;
}

export interface DescriptorCheck {
  extents: ExtentSpan[];
  problems: VerifyProblem[];
}

const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s/;

/** Byte offset where each line of `text` starts (line 1 at index 0). */
function lineStarts(text: string): number[] {
  const starts = [0];
  let at = 0;
  for (const line of text.split('\n')) {
    at += Buffer.byteLength(line) + 1;
    starts.push(at);
  }
  return starts;
}

/** Byte offsets of the extent lines, in order, and of the createType line. */
function positions(text: string): { extents: number[]; createType?: number } {
  const starts = lineStarts(text);
  const extents: number[] = [];
  let createType: number | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (EXTENT_LINE.test(line)) extents.push(starts[i]!);
    else if (/^createType\s*=/.test(line)) createType = starts[i]!;
  });
  return { extents, ...(createType !== undefined ? { createType } : {}) };
}

/** The layout the export writer makes for this disk (flat-disk-writer.ts), for reading the data when the descriptor cannot say. */
export function catalogLayout(disk: CatalogDisk): ExtentSpan[] {
  const n = disk.extentFiles.length;
  const twoGb = TWO_GB_EXTENT_SECTORS * SECTOR_SIZE;
  const split = n === 1 ? disk.capacity : disk.capacity > (n - 1) * twoGb && disk.capacity <= n * twoGb ? twoGb : Math.ceil(disk.capacity / n / SECTOR_SIZE) * SECTOR_SIZE;
  return disk.extentFiles.map((file, i) => {
    const diskStart = Math.min(i * split, disk.capacity);
    return { file, diskStart, length: Math.min(split, disk.capacity - diskStart), fileStart: 0 };
  });
}

function problemsOf(descriptor: VmdkDescriptor, text: string, catalog: Catalog, disk: CatalogDisk): VerifyProblem[] {
  const at = positions(text);
  const problems: VerifyProblem[] = [];
  const broken = (offset: number | undefined, message: string) =>
    problems.push({ kind: 'broken-descriptor', file: disk.descriptorFile, ...(offset !== undefined ? { offset } : {}), disk: disk.descriptorFile, message });
  if (descriptor.createType !== catalog.diskLayout) {
    broken(at.createType, `createType is ${JSON.stringify(descriptor.createType)}, the catalog's layout is ${catalog.diskLayout}`);
  }
  if (descriptor.extents.length !== disk.extentFiles.length) {
    broken(at.extents[0], `${descriptor.extents.length} extent line(s), the catalog lists ${disk.extentFiles.length} extent file(s) (${disk.extentFiles.join(', ')})`);
  }
  let sectors = 0;
  descriptor.extents.forEach((e, i) => {
    sectors += e.sectors;
    const expected = disk.extentFiles[i];
    if (e.type !== 'FLAT') broken(at.extents[i], `extent ${i + 1} is ${e.type}; an export's extents are FLAT`);
    else if (expected !== undefined && e.fileName !== expected) broken(at.extents[i], `extent ${i + 1} names ${JSON.stringify(e.fileName)}, the catalog lists ${JSON.stringify(expected)}`);
  });
  if (sectors * SECTOR_SIZE !== disk.capacity) {
    broken(at.extents[0], `the extents hold ${sectors * SECTOR_SIZE} bytes (${sectors} sectors), the catalog's capacity is ${disk.capacity}`);
  }
  return problems;
}

/**
 * Reads and parses the disk's descriptor and compares its extents with the catalog. The layout returned is
 * the descriptor's when it agrees with the catalog, else the one the catalog implies, so that the data is
 * still checked (and its own problems found) when only the descriptor is damaged.
 */
export async function checkDescriptor(dir: string, catalog: Catalog, disk: CatalogDisk): Promise<DescriptorCheck> {
  let text: string;
  try {
    text = await readFile(join(dir, disk.descriptorFile), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const kind = code === 'ENOENT' || code === 'EISDIR' ? 'missing-file' : 'unreadable-file';
    return { extents: catalogLayout(disk), problems: [{ kind, file: disk.descriptorFile, disk: disk.descriptorFile, message: kind === 'missing-file' ? 'the disk\'s descriptor is missing' : `cannot be read (${code ?? (error as Error).message})` }] };
  }
  let descriptor: VmdkDescriptor;
  try {
    descriptor = parseDescriptor(text);
  } catch (error) {
    const line = error instanceof DescriptorParseError ? error.lineNumber : undefined;
    const offset = line !== undefined ? lineStarts(text)[line - 1] : undefined;
    return {
      extents: catalogLayout(disk),
      problems: [{ kind: 'broken-descriptor', file: disk.descriptorFile, ...(offset !== undefined ? { offset } : {}), disk: disk.descriptorFile, message: `does not parse: ${(error as Error).message}` }],
    };
  }
  const problems = problemsOf(descriptor, text, catalog, disk);
  if (problems.length > 0) return { extents: catalogLayout(disk), problems };
  let diskStart = 0;
  const extents = descriptor.extents.map((e) => {
    const span = { file: e.fileName!, diskStart, length: e.sectors * SECTOR_SIZE, fileStart: (e.offset ?? 0) * SECTOR_SIZE };
    diskStart += span.length;
    return span;
  });
  return { extents, problems };
}
