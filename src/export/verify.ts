// Recomputes an exported disk's block list and digest from its files and compares them with the catalog.

import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDescriptor, SECTOR_SIZE } from '../formats/vmdk-descriptor.js';
import { blockLine, DIGEST_BLOCK, digestPreamble, hashBlock } from './block-digest.js';
import { CATALOG_FILE, parseCatalog, type CatalogDisk } from './catalog.js';
import { readLines } from './line-file.js';

export interface DiskVerification {
  descriptorFile: string;
  ok: boolean;
  expectedDigest: string;
  actualDigest: string;
  /** Offsets of blocks whose content differs from the recorded block list (either side). */
  badBlocks: number[];
}

/** Reads the disk through its descriptor's extents, hashing each 1 MiB block (see block-digest.ts). */
export async function verifyExportDisk(dir: string, disk: CatalogDisk): Promise<DiskVerification> {
  const descriptor = parseDescriptor(await readFile(join(dir, disk.descriptorFile), 'utf8'));
  const actual = new Map<number, string>();
  const digest = createHash('sha256').update(digestPreamble(disk.capacity));
  const buffer = Buffer.alloc(DIGEST_BLOCK);
  let position = 0;
  const extents = descriptor.extents.map((e) => ({ file: e.fileName!, start: 0, length: e.sectors * SECTOR_SIZE }));
  for (const e of extents) {
    e.start = position;
    position += e.length;
  }
  if (position !== disk.capacity) throw new Error(`${disk.descriptorFile}: extents hold ${position} bytes, catalog says ${disk.capacity}`);
  const handles = await Promise.all(extents.map((e) => open(join(dir, e.file), 'r')));
  try {
    for (let offset = 0; offset < disk.capacity; offset += DIGEST_BLOCK) {
      const block = buffer.subarray(0, Math.min(DIGEST_BLOCK, disk.capacity - offset));
      block.fill(0);
      for (const [i, e] of extents.entries()) {
        const from = Math.max(offset, e.start);
        const to = Math.min(offset + block.length, e.start + e.length);
        if (from < to) await handles[i]!.read(block, from - offset, to - from, from - e.start);
      }
      const hex = hashBlock(block);
      if (hex) {
        actual.set(offset, hex);
        digest.update(blockLine(offset, hex));
      }
    }
  } finally {
    for (const handle of handles) await handle.close();
  }
  const badBlocks = new Set<number>();
  const recorded = new Set<number>();
  for await (const line of readLines(join(dir, disk.blocksFile))) {
    const [offsetText, hex] = line.split(' ');
    const offset = Number(offsetText);
    recorded.add(offset);
    if (actual.get(offset) !== hex) badBlocks.add(offset);
  }
  for (const offset of actual.keys()) if (!recorded.has(offset)) badBlocks.add(offset);
  const actualDigest = `sha256:${digest.digest('hex')}`;
  return {
    descriptorFile: disk.descriptorFile,
    ok: actualDigest === disk.digest && badBlocks.size === 0,
    expectedDigest: disk.digest,
    actualDigest,
    badBlocks: [...badBlocks].sort((a, b) => a - b),
  };
}

/** Verifies every disk listed in the directory's catalog. */
export async function verifyExport(dir: string): Promise<DiskVerification[]> {
  const catalog = parseCatalog(await readFile(join(dir, CATALOG_FILE), 'utf8'));
  const results: DiskVerification[] = [];
  for (const disk of catalog.disks) results.push(await verifyExportDisk(dir, disk));
  return results;
}
