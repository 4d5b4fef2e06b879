// Builds a fake host for reader tests: a disk image, its blocks scattered on a LUN image, and the matching block map.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { BlockMap, DiskExtent } from '../../src/esx/parse/block-map.js';

export const MiB = 1024 * 1024;
export const LVID = '4f3c1a2b-11223344-5566-001122334455';
export const VOLUME_UUID = '4f3c1a2b-aabbccdd-eeff-001122334455';

export type BlockKind = DiskExtent['kind'];

/** A disk of every kind of block, data runs of one and two blocks, and an unaligned tail of TAIL bytes. */
export const KINDS: BlockKind[] = ['mapped', 'hole', 'mapped', 'mapped', 'unzeroed', 'hole', 'mapped', 'mapped', 'hole', 'mapped'];
export const TAIL = 3 * 512 + 64 * 1024;

export interface FakeDisk {
  /** What a reader must reconstruct: mapped blocks' data, zeros elsewhere. */
  expected: Buffer;
  blockMap: BlockMap;
  /** The flat file as a host would serve it, except holes/unzeroed hold garbage (proving they are not read). */
  flatContent: Buffer;
  lunContent: Buffer;
}

/**
 * kinds[i] is the kind of the i-th 1 MiB block; the last block is `lastBlockBytes` long (unaligned tail).
 * Mapped blocks land on the LUN in reverse order with gaps of garbage between them.
 */
export function buildFakeDisk(kinds: readonly BlockKind[], lastBlockBytes: number, dataPath = '/vmfs/volumes/ds1/vm/vm-flat.vmdk'): FakeDisk {
  const size = (kinds.length - 1) * MiB + lastBlockBytes;
  const expected = Buffer.alloc(size);
  const flatContent = randomBytes(size);
  const lunContent = randomBytes((kinds.length * 2 + 1) * MiB);
  const extents: DiskExtent[] = [];
  kinds.forEach((kind, i) => {
    const fileOffset = i * MiB;
    const length = Math.min(MiB, size - fileOffset);
    if (kind === 'hole') {
      extents.push({ fileOffset, length, kind });
      return;
    }
    const lunOffset = (kinds.length - i) * 2 * MiB - MiB;
    extents.push({ fileOffset, length, kind, lunOffset, lvid: LVID, volumeUuid: VOLUME_UUID, lvmExtent: 1 });
    if (kind === 'mapped') {
      const data = randomBytes(length);
      if (i % 3 === 0) data.fill(0, 0, length >> 1);
      data.copy(expected, fileOffset);
      data.copy(flatContent, fileOffset);
      data.copy(lunContent, lunOffset);
    }
  });
  return { expected, flatContent, lunContent, blockMap: { path: dataPath, size, extents } };
}

export function writeFakeFiles(disk: FakeDisk, flatPath: string, lunPath: string): void {
  writeFileSync(flatPath, disk.flatContent);
  writeFileSync(lunPath, disk.lunContent);
}

/** Collects a reader's chunks into an image of the given size (zeros where nothing came). */
export function collector(size: number): { image: Buffer; sink: (offset: number, chunk: Buffer) => void; offsets: number[] } {
  const image = Buffer.alloc(size);
  const offsets: number[] = [];
  return {
    image,
    offsets,
    sink(offset, chunk) {
      offsets.push(offset);
      chunk.copy(image, offset);
    },
  };
}
