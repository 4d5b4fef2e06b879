// Turns an export into what a version 1 catalog describes (sha256 block lists, as vcbmounter wrote before xxh64), for tests that read older backups.

import { createHash } from 'node:crypto';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blockHex, DIGEST_BLOCK, digestPreamble } from '../../src/export/block-digest.js';
import { blocksFileName } from '../../src/export/block-list-file.js';

interface LegacyDisk {
  descriptorFile: string;
  extentFiles: string[];
  blocksFile: string;
  blockHash?: string;
  capacity: number;
  digest: string;
}

/** Rewrites the export in dir as a version 1 export: `<disk>.blocks.sha256` lists, no blockHash, catalog version 1. */
export function toVersion1(dir: string): void {
  const catalogPath = join(dir, 'catalog');
  const catalog = JSON.parse(readFileSync(catalogPath, 'utf8')) as { version: number; disks: LegacyDisk[] };
  for (const disk of catalog.disks) {
    // The disk is its extent files in order (test exports are a few MiB).
    const data = Buffer.concat(disk.extentFiles.map((file) => readFileSync(join(dir, file))));
    const offsets = readFileSync(join(dir, disk.blocksFile), 'latin1').split('\n').filter(Boolean).map((line) => Number(line.split(' ')[0]));
    const list = offsets.map((offset) => `${offset} ${blockHex(data.subarray(offset, offset + DIGEST_BLOCK), 'sha256')}\n`).join('');
    unlinkSync(join(dir, disk.blocksFile));
    disk.blocksFile = blocksFileName(disk.descriptorFile, 'sha256');
    writeFileSync(join(dir, disk.blocksFile), list);
    delete disk.blockHash;
    disk.digest = `sha256:${createHash('sha256').update(digestPreamble(disk.capacity, 'sha256')).update(list).digest('hex')}`;
  }
  catalog.version = 1;
  writeFileSync(catalogPath, `${JSON.stringify(catalog, null, 2)}\n`);
}
