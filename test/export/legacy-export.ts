// Turns an export into what a version 1 catalog describes (sha256 block lists, as vcbmounter wrote before xxh64), for tests that read older backups.

import { closeSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blockHex, DIGEST_BLOCK, digestPreamble } from '../../src/export/block-digest.js';
import { createHash } from 'node:crypto';

interface LegacyDisk {
  descriptorFile: string;
  extentFiles: string[];
  blocksFile: string;
  blockHash?: string;
  capacity: number;
  digest: string;
}

/** Reads bytes [offset, offset + length) of the disk from its extent files, which hold it in order. */
function readDiskBytes(dir: string, disk: LegacyDisk, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let start = 0;
  for (const file of disk.extentFiles) {
    const path = join(dir, file);
    const size = statSync(path).size;
    const from = Math.max(offset, start);
    const to = Math.min(offset + length, start + size);
    if (from < to) {
      const fd = openSync(path, 'r');
      try {
        readSync(fd, out, from - offset, to - from, from - start);
      } finally {
        closeSync(fd);
      }
    }
    start += size;
  }
  return out;
}

/** Rewrites the export in dir as a version 1 export: `<disk>.blocks.sha256` lists, no blockHash, catalog version 1. */
export function toVersion1(dir: string): void {
  const catalogPath = join(dir, 'catalog');
  const catalog = JSON.parse(readFileSync(catalogPath, 'utf8')) as { version: number; disks: LegacyDisk[] };
  for (const disk of catalog.disks) {
    const offsets = readFileSync(join(dir, disk.blocksFile), 'latin1').split('\n').filter(Boolean).map((line) => Number(line.split(' ')[0]));
    const list = offsets
      .map((offset) => `${offset} ${blockHex(readDiskBytes(dir, disk, offset, Math.min(DIGEST_BLOCK, disk.capacity - offset)), 'sha256')}\n`)
      .join('');
    unlinkSync(join(dir, disk.blocksFile));
    disk.blocksFile = `${disk.descriptorFile.replace(/\.vmdk$/i, '')}.blocks.sha256`;
    writeFileSync(join(dir, disk.blocksFile), list);
    delete disk.blockHash;
    disk.digest = `sha256:${createHash('sha256').update(digestPreamble(disk.capacity, 'sha256')).update(list).digest('hex')}`;
  }
  catalog.version = 1;
  writeFileSync(catalogPath, `${JSON.stringify(catalog, null, 2)}\n`);
}
