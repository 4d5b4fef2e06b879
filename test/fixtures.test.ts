// Checks the committed guest disk fixtures against their manifest with the real partitioning and file-system tools.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface ManifestPiece { offset: number; length: number; file: string; sha256: string }
interface ManifestPartition {
  index: number;
  startBytes: number;
  sizeBytes: number;
  fsType: 'ext4' | 'ntfs' | null;
  label: string | null;
  driveLetter: string | null;
}
interface ManifestFile { partition: number; path: string; sizeBytes: number; sha256: string; text?: string }
interface ManifestImage {
  name: string;
  sizeBytes: number;
  sha256: string;
  partitionTable: 'gpt' | 'dos';
  pieces: ManifestPiece[];
  partitions: ManifestPartition[];
  files: ManifestFile[];
}
interface SfdiskPartition { node: string; start: number; size: number }

const guestsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'guests');
const manifest = JSON.parse(await readFile(join(guestsDir, 'manifest.json'), 'utf8')) as { images: ManifestImage[] };
const toolEnv = { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function assembleDisk(image: ManifestImage, path: string): Promise<void> {
  const disk = await open(path, 'w');
  try {
    await disk.truncate(image.sizeBytes);
    for (const piece of image.pieces) {
      const data = gunzipSync(await readFile(join(guestsDir, piece.file)));
      await disk.write(data, 0, data.length, piece.offset);
    }
  } finally {
    await disk.close();
  }
}

async function extractPartition(diskPath: string, partition: ManifestPartition, path: string): Promise<void> {
  const MiB = 1024 * 1024;
  expect(partition.startBytes % MiB).toBe(0);
  expect(partition.sizeBytes % MiB).toBe(0);
  await execa('dd', [
    `if=${diskPath}`, `of=${path}`, 'bs=1M', `skip=${partition.startBytes / MiB}`,
    `count=${partition.sizeBytes / MiB}`, 'conv=sparse', 'status=none',
  ], { env: toolEnv });
}

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'fixtures-test-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe.each(manifest.images.map((image) => [image.name, image] as const))('guest disk %s', (name, image) => {
  const diskPath = () => join(workDir, `${name}.img`);
  const partitionPath = (index: number) => join(workDir, `${name}-p${index}.img`);
  const filesOn = (index: number) => image.files.filter((file) => file.partition === index);

  beforeAll(async () => {
    await assembleDisk(image, diskPath());
  });

  it('has pieces of the listed length and sha256 that assemble to the manifest sha256', async () => {
    for (const piece of image.pieces) {
      const data = gunzipSync(await readFile(join(guestsDir, piece.file)));
      expect(data.length, `${piece.file} length`).toBe(piece.length);
      expect(sha256(data), `${piece.file} sha256`).toBe(piece.sha256);
      expect(piece.offset + piece.length).toBeLessThanOrEqual(image.sizeBytes);
    }
    expect(await sha256OfFile(diskPath())).toBe(image.sha256);
  });

  it('has the partition table the manifest describes', async () => {
    const { stdout } = await execa('sfdisk', ['--json', diskPath()], { env: toolEnv });
    const table = JSON.parse(stdout).partitiontable as { label: string; sectorsize?: number; partitions: SfdiskPartition[] };
    const sectorSize = table.sectorsize ?? 512;
    expect(table.label).toBe(image.partitionTable);
    const found = table.partitions.map((p) => ({
      index: Number(/(\d+)$/.exec(p.node)?.[1]),
      startBytes: p.start * sectorSize,
      sizeBytes: p.size * sectorSize,
    }));
    expect(found).toEqual(image.partitions.map(({ index, startBytes, sizeBytes }) => ({ index, startBytes, sizeBytes })));
  });

  for (const partition of image.partitions.filter((p) => p.fsType === 'ext4')) {
    it(`partition ${partition.index} is a clean ext4 "${partition.label}" holding the listed files`, async () => {
      await extractPartition(diskPath(), partition, partitionPath(partition.index));
      const fsck = await execa('e2fsck', ['-fn', partitionPath(partition.index)], { env: toolEnv, reject: false });
      expect(fsck.exitCode, fsck.stdout + fsck.stderr).toBe(0);
      const label = await execa('e2label', [partitionPath(partition.index)], { env: toolEnv });
      expect(label.stdout.trim()).toBe(partition.label);
      for (const file of filesOn(partition.index)) {
        const cat = await execa('debugfs', ['-R', `cat "${file.path}"`, partitionPath(partition.index)], {
          env: toolEnv, encoding: 'buffer', stripFinalNewline: false,
        });
        expect(cat.stdout.length, file.path).toBe(file.sizeBytes);
        expect(sha256(cat.stdout), file.path).toBe(file.sha256);
        if (file.text !== undefined) expect(Buffer.from(cat.stdout).toString('utf8')).toBe(file.text);
      }
    });
  }

  for (const partition of image.partitions.filter((p) => p.fsType === 'ntfs')) {
    it(`partition ${partition.index} is NTFS "${partition.label}" (${partition.driveLetter}:) holding the listed files`, async () => {
      await extractPartition(diskPath(), partition, partitionPath(partition.index));
      const info = await execa('ntfsinfo', ['-m', partitionPath(partition.index)], { env: toolEnv });
      expect(info.stdout).toMatch(new RegExp(`Volume Name:\\s+${partition.label}\\b`));
      for (const file of filesOn(partition.index)) {
        const cat = await execa('ntfscat', [partitionPath(partition.index), file.path], { env: toolEnv, encoding: 'buffer', stripFinalNewline: false });
        expect(cat.stdout.length, file.path).toBe(file.sizeBytes);
        expect(sha256(cat.stdout), file.path).toBe(file.sha256);
        if (file.text !== undefined) expect(Buffer.from(cat.stdout).toString('utf8')).toBe(file.text);
      }
    });
  }

  it('lists at least one file on every formatted partition', () => {
    for (const partition of image.partitions.filter((p) => p.fsType !== null)) {
      expect(filesOn(partition.index).length, `partition ${partition.index}`).toBeGreaterThan(0);
    }
  });
});
