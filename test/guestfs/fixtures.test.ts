// findVolumes on the committed guest disk fixtures (fixtures/guests), read in memory from their pieces, against their manifest.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { ReadAt } from '../../src/formats/partition-table.js';
import { findVolumes } from '../../src/guestfs/index.js';

interface ManifestPartition {
  index: number;
  startBytes: number;
  sizeBytes: number;
  type: string;
  name?: string;
  bootable?: boolean;
  fsType: string | null;
  label: string | null;
  fsUuid?: string;
}
interface ManifestImage {
  name: string;
  sizeBytes: number;
  partitionTable: 'gpt' | 'dos';
  pieces: Array<{ offset: number; length: number; file: string }>;
  partitions: ManifestPartition[];
}

const guestsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'guests');
const manifest = JSON.parse(await readFile(join(guestsDir, 'manifest.json'), 'utf8')) as { images: ManifestImage[] };

const readers = new Map<string, Promise<ReadAt>>();

/** The disk as the manifest describes it — zeros with each piece at its offset — without allocating the zeros; one per disk. */
function pieceReader(image: ManifestImage): Promise<ReadAt> {
  if (!readers.has(image.name)) readers.set(image.name, makePieceReader(image));
  return readers.get(image.name)!;
}

async function makePieceReader(image: ManifestImage): Promise<ReadAt> {
  const pieces = await Promise.all(image.pieces.map(async (p) => ({ offset: p.offset, data: gunzipSync(await readFile(join(guestsDir, p.file))) })));
  return async (offset, length) => {
    const end = Math.min(offset + length, image.sizeBytes);
    const out = Buffer.alloc(Math.max(0, end - offset));
    for (const p of pieces) {
      const from = Math.max(offset, p.offset);
      const to = Math.min(end, p.offset + p.data.length);
      if (from < to) p.data.copy(out, from - offset, from - p.offset, to - p.offset);
    }
    return out;
  };
}

describe('findVolumes on the guest disk fixtures', () => {
  it('covers the disks the task names', () => {
    expect(manifest.images.map((i) => i.name)).toEqual(expect.arrayContaining(['linux01-disk0', 'win01-disk0', 'win01-disk1']));
  });

  it.each(manifest.images.map((image) => [image.name, image] as const))('%s matches its manifest', async (_name, image) => {
    const found = await findVolumes(await pieceReader(image), image.sizeBytes);
    expect(found.warnings).toEqual([]);
    expect(found.table).toBe(image.partitionTable === 'dos' ? 'mbr' : 'gpt');
    expect(found.volumes).toHaveLength(image.partitions.length);
    for (const [i, p] of image.partitions.entries()) {
      const v = found.volumes[i]!;
      const context = `${image.name} partition ${p.index}`;
      expect({ index: v.index, start: v.start, size: v.size }, context).toEqual({ index: p.index, start: p.startBytes, size: p.sizeBytes });
      if (image.partitionTable === 'dos') {
        expect(Number.parseInt(v.partitionType!, 16), context).toBe(Number.parseInt(p.type, 16));
        expect(v.bootable, context).toBe(p.bootable === true);
      } else {
        expect(v.partitionType, context).toBe(p.type.toLowerCase());
        expect(v.partitionName, context).toBe(p.name);
      }
      expect(v.fs.type, context).toBe(p.fsType ?? 'unknown');
      expect(v.fs.label, context).toBe(p.label ?? undefined);
      if (p.fsUuid) expect(v.fs.uuid, context).toBe(p.fsUuid);
      expect(v.fs.dirty, context).toBe(false);
    }
  });

  it('the expected file systems: linux01 ext4 boot/root, win01 NTFS System and Data', async () => {
    const summary: Record<string, Array<[number, string, string | undefined]>> = {};
    for (const name of ['linux01-disk0', 'win01-disk0', 'win01-disk1']) {
      const image = manifest.images.find((i) => i.name === name)!;
      const found = await findVolumes(await pieceReader(image), image.sizeBytes);
      summary[name] = found.volumes.map((v) => [v.index, v.fs.type, v.fs.label]);
    }
    expect(summary).toEqual({
      'linux01-disk0': [
        [1, 'ext4', 'boot'],
        [2, 'ext4', 'root'],
      ],
      'win01-disk0': [[1, 'ntfs', 'System']],
      'win01-disk1': [[1, 'ntfs', 'Data']],
    });
  });
});
