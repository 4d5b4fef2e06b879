// findVolumes on disks partitioned and formatted with the real tools, checked against sfdisk --json and blkid -p.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVolumes, type GuestDisk } from '../../src/guestfs/index.js';
import {
  blkid,
  blkidFsType,
  fileReader,
  makeTempDir,
  MiB,
  nodeNumber,
  patchFile,
  placeImage,
  sfdiskJson,
  sparseFile,
  tool,
  type SfdiskPartition,
} from './disk-tools.js';

const SECTOR = 512;
let temp: Awaited<ReturnType<typeof makeTempDir>>;

interface Built {
  disk: string;
  bytes: number;
  table: SfdiskPartition[];
  /** blkid -p -o export of each partition's image, by partition number. */
  blkid: Map<number, Record<string, string>>;
}

/** Formats an image of partition `p` with `format` (given the image path), places it in the disk, and records blkid's view of it. */
async function formatPartition(built: Built, number: number, format: (image: string) => Promise<unknown>): Promise<void> {
  const p = built.table.find((q) => nodeNumber(q.node) === number)!;
  const image = await sparseFile(join(temp.dir, `${built.disk.split('/').at(-1)}.p${number}`), p.size * SECTOR);
  await format(image);
  built.blkid.set(number, await blkid(image));
  await placeImage(built.disk, image, p.start * SECTOR);
}

async function partitioned(name: string, bytes: number, partition: (disk: string) => Promise<unknown>): Promise<Built> {
  const disk = await sparseFile(join(temp.dir, name), bytes);
  await partition(disk);
  return { disk, bytes, table: (await sfdiskJson(disk)).partitions, blkid: new Map() };
}

/** Every volume checked against sfdisk (number, place, type, name, boot flag) and blkid (type, label, UUID). */
function expectMatchesTools(found: GuestDisk, built: Built, table: 'mbr' | 'gpt'): void {
  const data = built.table.filter((p) => !['5', 'f', '85'].includes(p.type));
  expect(found.volumes.map((v) => v.index)).toEqual(data.map((p) => nodeNumber(p.node)));
  for (const [i, p] of data.entries()) {
    const v = found.volumes[i]!;
    const fields = built.blkid.get(v.index) ?? {};
    const context = `partition ${v.index}`;
    expect(v.table, context).toBe(table);
    expect(v.start, context).toBe(p.start * SECTOR);
    expect(v.size, context).toBe(p.size * SECTOR);
    if (table === 'mbr') {
      expect(Number.parseInt(v.partitionType!, 16), context).toBe(Number.parseInt(p.type, 16));
      expect(v.bootable === true, context).toBe(p.bootable === true);
      expect(v.logical === true, context).toBe(v.index >= 5);
    } else {
      expect(v.partitionType, context).toBe(p.type.toLowerCase());
      expect(v.partitionName, context).toBe(p.name);
    }
    expect(v.fs.type, context).toBe(blkidFsType(fields));
    expect(v.fs.label, context).toBe(fields.LABEL);
    expect(v.fs.uuid, context).toBe(fields.UUID);
  }
}

let mbr: Built;
let gpt: Built;

beforeAll(async () => {
  temp = await makeTempDir('guestfs');
  mbr = await partitioned('mbr.img', 120 * MiB, (disk) =>
    tool('sfdisk', ['-q', disk], [
      'label: dos',
      `${disk}1 : start=2048, size=16MiB, type=83`,
      `${disk}2 : size=16MiB, type=83, bootable`,
      `${disk}3 : size=80MiB, type=f`,
      `${disk}5 : size=40MiB, type=c`,
      `${disk}6 : size=16MiB, type=7`,
      `${disk}7 : size=8MiB, type=83`,
    ].join('\n')),
  );
  gpt = await partitioned('gpt.img', 48 * MiB, (disk) =>
    tool('sgdisk', ['-n', '1:2048:+16M', '-t', '1:8300', '-c', '1:linux root', '-n', '2:0:+8M', '-t', '2:8200', '-c', '2:swap', '-n', '3:0:+8M', '-t', '3:0700', '-c', '3:empty', disk]),
  );
  await Promise.all([
    formatPartition(mbr, 1, (img) => tool('mke2fs', ['-q', '-F', '-t', 'ext3', '-L', 'rootfs3', img])),
    formatPartition(mbr, 2, (img) => tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'data4', img])),
    formatPartition(mbr, 5, (img) => tool('mkfs.vfat', ['-F', '32', '-n', 'WINFAT', img])),
    formatPartition(mbr, 6, (img) => tool('mkntfs', ['-Q', '-F', '-L', 'Daten', img])),
    formatPartition(mbr, 7, (img) => patchFile(img, 0, randomBytes(256 * 1024))),
    formatPartition(gpt, 1, (img) => tool('mke2fs', ['-q', '-F', '-t', 'ext2', '-L', 'gptroot', img])),
    formatPartition(gpt, 2, (img) => tool('mkswap', ['-L', 'swp', img])),
    formatPartition(gpt, 3, async () => undefined),
  ]);
});

afterAll(async () => {
  await temp?.remove();
});

describe('findVolumes', () => {
  it('an MBR disk: ext3 and ext4 primaries, FAT32, NTFS and random bytes in logical partitions 5-7', async () => {
    const found = await findVolumes(fileReader(mbr.disk), mbr.bytes);
    expect(found.table).toBe('mbr');
    expect(found.warnings).toEqual([]);
    expectMatchesTools(found, mbr, 'mbr');
    expect(found.volumes.map((v) => [v.index, v.fs.type, v.fs.label ?? null])).toEqual([
      [1, 'ext3', 'rootfs3'],
      [2, 'ext4', 'data4'],
      [5, 'fat32', 'WINFAT'],
      [6, 'ntfs', 'Daten'],
      [7, 'unknown', null],
    ]);
    expect(found.volumes.filter((v) => v.fs.dirty).map((v) => v.index)).toEqual([]);
  });

  it('a GPT disk: partition names, ext2, swap, and an empty partition', async () => {
    const found = await findVolumes(fileReader(gpt.disk), gpt.bytes);
    expect(found.table).toBe('gpt');
    expect(found.warnings).toEqual([]);
    expectMatchesTools(found, gpt, 'gpt');
    expect(found.volumes.map((v) => [v.index, v.partitionName, v.fs.type, v.fs.label ?? null])).toEqual([
      [1, 'linux root', 'ext2', 'gptroot'],
      [2, 'swap', 'swap', 'swp'],
      [3, 'empty', 'unknown', null],
    ]);
  });

  it('a superfloppy (ext2 made by mke2fs on the whole disk) is one volume, index 0', async () => {
    const disk = await sparseFile(join(temp.dir, 'floppy-ext.img'), 12 * MiB);
    await tool('mke2fs', ['-q', '-F', '-L', 'whole', disk]);
    const fields = await blkid(disk);
    const found = await findVolumes(fileReader(disk), 12 * MiB);
    expect(found).toEqual({
      table: 'none',
      volumes: [{ index: 0, start: 0, size: 12 * MiB, table: 'none', fs: { type: blkidFsType(fields), label: 'whole', uuid: fields.UUID, dirty: false } }],
      warnings: [],
    });
  });

  it('a FAT16 superfloppy (boot sector with 0x55AA at LBA 0) is one volume, index 0', async () => {
    const disk = await sparseFile(join(temp.dir, 'floppy-fat.img'), 20 * MiB);
    await tool('mkfs.vfat', ['-F', '16', '-n', 'STICK', disk]);
    const fields = await blkid(disk);
    const found = await findVolumes(fileReader(disk), 20 * MiB);
    expect(found.table).toBe('none');
    expect(found.volumes).toEqual([{ index: 0, start: 0, size: 20 * MiB, table: 'none', fs: { type: 'fat16', label: 'STICK', uuid: fields.UUID } }]);
    expect(fields.VERSION).toBe('FAT16');
  });

  it('a blank disk has no volumes, and says so', async () => {
    const disk = await sparseFile(join(temp.dir, 'blank.img'), 4 * MiB);
    expect(await findVolumes(fileReader(disk), 4 * MiB)).toEqual({ table: 'none', volumes: [], warnings: ['no partition table and no file system at the start of the disk'] });
  });

  it('an MBR listing no partitions: no volumes, and a warning', async () => {
    const disk = await sparseFile(join(temp.dir, 'empty-mbr.img'), 4 * MiB);
    await tool('sfdisk', ['-q', disk], 'label: dos\n');
    expect(await findVolumes(fileReader(disk), 4 * MiB)).toEqual({ table: 'mbr', volumes: [], warnings: ['the MBR partition table lists no partitions'] });
  });

  it('a partition the reader cannot read is listed as unknown with a warning; the others are still probed', async () => {
    const p6 = mbr.table.find((p) => nodeNumber(p.node) === 6)!;
    const inner = fileReader(mbr.disk);
    const failing = async (offset: number, length: number): Promise<Buffer> => {
      if (offset >= p6.start * SECTOR && offset < (p6.start + p6.size) * SECTOR) throw new Error('EIO');
      return inner(offset, length);
    };
    const found = await findVolumes(failing, mbr.bytes);
    expect(found.volumes.map((v) => v.fs.type)).toEqual(['ext3', 'ext4', 'fat32', 'unknown', 'unknown']);
    expect(found.volumes[3]!.fs.detail).toBe('not read: EIO');
    expect(found.warnings).toEqual(['partition 6: cannot read it (EIO)']);
  });
});
