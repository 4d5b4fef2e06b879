// readDiskPartitions against disks partitioned by sfdisk and sgdisk, and against damaged EBR chains and GPTs.
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gptWithVmfs, MAX_EBR_CHAIN, readDiskPartitions, readPartitionTable, TABLE_BYTES, type DiskLayout } from '../../src/formats/partition-table.js';
import { bufferReader, fileReader, makeTempDir, MiB, nodeNumber, patchFile, readFileAt, sfdiskJson, sparseFile, tool, type SfdiskPartition } from '../guestfs/disk-tools.js';

const SECTOR = 512;
let temp: Awaited<ReturnType<typeof makeTempDir>>;
let mbrDisk: string;
let mbrTable: SfdiskPartition[];
let gptDisk: string;
let gptTable: SfdiskPartition[];
const DISK_BYTES = 32 * MiB;

/** A copy of the MBR disk to damage. */
async function copyOfMbrDisk(name: string): Promise<string> {
  const path = join(temp.dir, name);
  await copyFile(mbrDisk, path);
  return path;
}

/** The EBRs' sectors in chain order, found by following the link entries (the second entry, relative to the extended partition). */
async function ebrChain(path: string, extendedStart: number): Promise<number[]> {
  const chain = [extendedStart];
  for (;;) {
    const ebr = await readFileAt(path, chain.at(-1)! * SECTOR, SECTOR);
    const link = ebr.readUInt32LE(446 + 16 + 8);
    if (ebr[446 + 16 + 4] === 0 || chain.length > 10) return chain;
    chain.push(extendedStart + link);
  }
}

const setLink = (relativeLba: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(relativeLba);
  return b;
};

beforeAll(async () => {
  temp = await makeTempDir('ptable');
  mbrDisk = await sparseFile(join(temp.dir, 'mbr.img'), DISK_BYTES);
  const script = [
    'label: dos',
    'unit: sectors',
    '',
    `${mbrDisk}1 : start=2048, size=4MiB, type=83`,
    `${mbrDisk}2 : size=4MiB, type=83, bootable`,
    `${mbrDisk}3 : size=20MiB, type=5`,
    `${mbrDisk}5 : size=8MiB, type=c`,
    `${mbrDisk}6 : size=4MiB, type=7`,
    `${mbrDisk}7 : size=4MiB, type=8e`,
  ].join('\n');
  await tool('sfdisk', ['-q', mbrDisk], script);
  mbrTable = (await sfdiskJson(mbrDisk)).partitions;

  gptDisk = await sparseFile(join(temp.dir, 'gpt.img'), 40 * MiB);
  await tool('sgdisk', ['-n', '1:2048:+16M', '-t', '1:8300', '-c', '1:linux root', '-n', '2:0:+8M', '-t', '2:8200', '-c', '2:swap', '-n', '4:0:+8M', '-t', '4:0700', '-c', '4:Daten ü', gptDisk]);
  gptTable = (await sfdiskJson(gptDisk)).partitions;
});

afterAll(async () => {
  await temp?.remove();
});

describe('readDiskPartitions on an MBR disk with an extended partition (sfdisk)', () => {
  it('lists the primaries and the logical partitions as Linux numbers them, not the extended container', async () => {
    const layout = await readDiskPartitions(fileReader(mbrDisk), DISK_BYTES);
    expect(layout.table).toBe('mbr');
    expect(layout.warnings).toEqual([]);
    const expected = mbrTable
      .filter((p) => p.type !== '5')
      .map((p) => ({ index: nodeNumber(p.node), start: p.start * SECTOR, size: p.size * SECTOR, type: Number.parseInt(p.type, 16), bootable: p.bootable === true, logical: nodeNumber(p.node) >= 5 }));
    expect(expected.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
    expect(layout.partitions.map((p) => ({ ...p, type: Number.parseInt(p.type, 16), logical: p.logical === true }))).toEqual(expected);
    expect(layout.partitions.map((p) => p.type)).toEqual(['83', '83', '0c', '07', '8e']);
  });

  it('the sync reader of the first sectors (used by the LUN locator) still lists the four primary entries, the container included', () => {
    return readFileAt(mbrDisk, 0, TABLE_BYTES).then((head) => {
      const table = readPartitionTable(head);
      expect(table.kind).toBe('mbr');
      expect(table.kind === 'mbr' && table.partitions.map((p) => [p.number, p.type])).toEqual([
        [1, '83'],
        [2, '83'],
        [3, '05'],
      ]);
    });
  });

  it('an EBR linking to itself: the chain stops there with a warning naming its offset', async () => {
    const disk = await copyOfMbrDisk('self-loop.img');
    const ext = mbrTable.find((p) => p.type === '5')!;
    await patchFile(disk, ext.start * SECTOR + 446 + 16 + 8, setLink(0));
    const layout = await readDiskPartitions(fileReader(disk), DISK_BYTES);
    expect(layout.partitions.map((p) => p.index)).toEqual([1, 2, 5]);
    expect(layout.warnings).toHaveLength(1);
    expect(layout.warnings[0]).toContain(`EBR at byte ${ext.start * SECTOR}`);
    expect(layout.warnings[0]).toMatch(/loop/);
  });

  it('the last EBR linking back to the first: logical partitions 5-7 once, then a warning', async () => {
    const disk = await copyOfMbrDisk('back-loop.img');
    const ext = mbrTable.find((p) => p.type === '5')!;
    const chain = await ebrChain(disk, ext.start);
    expect(chain).toHaveLength(3);
    // The last EBR has no link yet: give it one to the extended partition's start, the first EBR.
    const link = Buffer.from([0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0]);
    await patchFile(disk, chain[2]! * SECTOR + 446 + 16, link);
    const layout = await readDiskPartitions(fileReader(disk), DISK_BYTES);
    expect(layout.partitions.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
    expect(layout.warnings).toHaveLength(1);
    expect(layout.warnings[0]).toContain(`the EBR at byte ${chain[2]! * SECTOR} links back to the EBR at byte ${ext.start * SECTOR}`);
  });

  it('a link pointing outside the extended partition: later logical partitions are dropped with a warning', async () => {
    const disk = await copyOfMbrDisk('out-of-range.img');
    const ext = mbrTable.find((p) => p.type === '5')!;
    await patchFile(disk, ext.start * SECTOR + 446 + 16 + 8, setLink(0x7fffff00));
    const layout = await readDiskPartitions(fileReader(disk), DISK_BYTES);
    expect(layout.partitions.map((p) => p.index)).toEqual([1, 2, 5]);
    expect(layout.warnings).toHaveLength(1);
    expect(layout.warnings[0]).toContain(`linked from the EBR at byte ${ext.start * SECTOR}`);
    expect(layout.warnings[0]).toMatch(/outside the extended partition/);
  });

  it('an EBR without its 0x55AA signature ends the chain with a warning', async () => {
    const disk = await copyOfMbrDisk('no-signature.img');
    const ext = mbrTable.find((p) => p.type === '5')!;
    const chain = await ebrChain(disk, ext.start);
    await patchFile(disk, chain[1]! * SECTOR + 510, Buffer.from([0, 0]));
    const layout = await readDiskPartitions(fileReader(disk), DISK_BYTES);
    expect(layout.partitions.map((p) => p.index)).toEqual([1, 2, 5]);
    expect(layout.warnings).toEqual([expect.stringContaining(`no 0x55AA signature in the EBR at byte ${chain[1]! * SECTOR}`)]);
  });

  it('a primary partition past the disk end is dropped, one running over the end is kept; both warned about', async () => {
    const disk = await copyOfMbrDisk('past-end.img');
    const entry = (start: number, sectors: number): Buffer => {
      const e = Buffer.alloc(16);
      e[4] = 0x83;
      e.writeUInt32LE(start, 8);
      e.writeUInt32LE(sectors, 12);
      return e;
    };
    await patchFile(disk, 446 + 3 * 16, entry(DISK_BYTES / SECTOR + 10, 100)); // entry 4: past the end
    await patchFile(disk, 446 + 0 * 16, entry(2048, DISK_BYTES / SECTOR)); // entry 1: runs over the end
    const layout = await readDiskPartitions(fileReader(disk), DISK_BYTES);
    expect(layout.partitions.map((p) => p.index)).toEqual([1, 2, 5, 6, 7]);
    expect(layout.warnings).toHaveLength(2);
    expect(layout.warnings.join('\n')).toMatch(/partition 4 starts at byte \d+, past the disk's end/);
    expect(layout.warnings.join('\n')).toMatch(/partition 1 \(bytes 1048576\.\.\d+\) runs past the disk's end/);
  });

  it(`bounds a chain of distinct EBRs at ${MAX_EBR_CHAIN} links`, async () => {
    // Built by hand: an extended partition whose chain has 300 EBRs, each followed by a one-sector logical partition.
    const links = 300;
    const extStart = 2048;
    const disk = Buffer.alloc((extStart + links * 2 + 2048) * SECTOR);
    const mbr = disk.subarray(0, SECTOR);
    mbr[446 + 4] = 0x0f;
    mbr.writeUInt32LE(extStart, 446 + 8);
    mbr.writeUInt32LE(links * 2 + 1024, 446 + 12);
    mbr.writeUInt16LE(0xaa55, 510);
    for (let i = 0; i < links; i++) {
      const ebr = disk.subarray((extStart + 2 * i) * SECTOR, (extStart + 2 * i + 1) * SECTOR);
      ebr[446 + 4] = 0x83;
      ebr.writeUInt32LE(1, 446 + 8);
      ebr.writeUInt32LE(1, 446 + 12);
      ebr[462 + 4] = 0x05;
      ebr.writeUInt32LE(2 * (i + 1), 462 + 8);
      ebr.writeUInt32LE(2, 462 + 12);
      ebr.writeUInt16LE(0xaa55, 510);
    }
    const layout = await readDiskPartitions(bufferReader(disk), disk.length);
    expect(layout.partitions).toHaveLength(MAX_EBR_CHAIN);
    expect(layout.partitions.at(-1)).toMatchObject({ index: 4 + MAX_EBR_CHAIN, start: (extStart + 2 * (MAX_EBR_CHAIN - 1) + 1) * SECTOR, size: SECTOR, logical: true });
    expect(layout.warnings).toEqual([expect.stringContaining(`past ${MAX_EBR_CHAIN} links; stopped at the EBR at byte ${(extStart + 2 * MAX_EBR_CHAIN) * SECTOR}`)]);
  });
});

describe('readDiskPartitions on a GPT disk (sgdisk)', () => {
  const expected = (): DiskLayout['partitions'] =>
    gptTable.map((p) => ({ index: nodeNumber(p.node), start: p.start * SECTOR, size: p.size * SECTOR, type: p.type.toLowerCase(), name: p.name! }));

  it('lists entries by their slot with type GUIDs and names', async () => {
    const layout = await readDiskPartitions(fileReader(gptDisk), 40 * MiB);
    expect(layout).toEqual({ table: 'gpt', partitions: expected(), warnings: [] });
    expect(layout.partitions.map((p) => [p.index, p.name])).toEqual([
      [1, 'linux root'],
      [2, 'swap'],
      [4, 'Daten ü'],
    ]);
  });

  it('the sync reader of the first sectors gives the names too', async () => {
    const table = readPartitionTable(await readFileAt(gptDisk, 0, TABLE_BYTES));
    expect(table.kind === 'gpt' && table.partitions.map((p) => p.name)).toEqual(['linux root', 'swap', 'Daten ü']);
  });

  it('a damaged primary header: the backup GPT is read, with a warning', async () => {
    const disk = join(temp.dir, 'gpt-bad-primary.img');
    await copyFile(gptDisk, disk);
    await patchFile(disk, SECTOR + 40, Buffer.from([0xff]));
    const layout = await readDiskPartitions(fileReader(disk), 40 * MiB);
    expect(layout.partitions).toEqual(expected());
    expect(layout.warnings).toEqual([`primary GPT unusable (GPT header checksum does not match); read the backup GPT header at byte ${40 * MiB - SECTOR}`]);
  });

  it('both headers damaged: no partitions, a warning, no exception', async () => {
    const disk = join(temp.dir, 'gpt-bad-both.img');
    await copyFile(gptDisk, disk);
    await patchFile(disk, SECTOR, Buffer.from('XXX'));
    await patchFile(disk, 40 * MiB - SECTOR + 40, Buffer.from([0xff]));
    const layout = await readDiskPartitions(fileReader(disk), 40 * MiB);
    expect(layout.table).toBe('gpt');
    expect(layout.partitions).toEqual([]);
    expect(layout.warnings).toEqual([expect.stringMatching(/neither GPT is usable: primary \(no "EFI PART" signature\), backup at byte \d+ \(GPT header checksum does not match\)/)]);
  });

  it('an entry whose last LBA precedes its first is not listed, with a warning', async () => {
    const disk = Buffer.alloc(8 * MiB);
    gptWithVmfs(MiB, 0, disk.length, '11111111-2222-3333-4444-555555555555', '66666666-7777-8888-9999-aaaaaaaaaaaa').copy(disk);
    expect(await readDiskPartitions(bufferReader(disk), disk.length)).toEqual({ table: 'gpt', partitions: [], warnings: ['GPT partition 1 ends before it starts: not listed'] });
  });
});

describe('readDiskPartitions on disks without a table', () => {
  it('a FAT file system on the whole disk (its boot sector ends in 0x55AA) is no MBR', async () => {
    const disk = await sparseFile(join(temp.dir, 'fat-floppy.img'), 8 * MiB);
    await tool('mkfs.vfat', ['-n', 'FLOPPY', disk]);
    expect((await readFileAt(disk, 510, 2)).readUInt16LE(0)).toBe(0xaa55);
    expect(await readDiskPartitions(fileReader(disk), 8 * MiB)).toEqual({ table: 'none', partitions: [], warnings: [] });
  });

  it('an NTFS file system on the whole disk is no MBR', async () => {
    const disk = await sparseFile(join(temp.dir, 'ntfs-floppy.img'), 8 * MiB);
    await tool('mkntfs', ['-Q', '-F', '-L', 'WHOLE', disk]);
    expect((await readFileAt(disk, 510, 2)).readUInt16LE(0)).toBe(0xaa55);
    expect(await readDiskPartitions(fileReader(disk), 8 * MiB)).toEqual({ table: 'none', partitions: [], warnings: [] });
  });

  it('an all-zero disk has no table', async () => {
    const disk = await sparseFile(join(temp.dir, 'zero.img'), 4 * MiB);
    expect(await readDiskPartitions(fileReader(disk), 4 * MiB)).toEqual({ table: 'none', partitions: [], warnings: [] });
  });

  it('0x55AA with impossible boot flags is not taken for a table, with a warning', async () => {
    const sector = Buffer.alloc(SECTOR, 0x41);
    sector.writeUInt16LE(0xaa55, 510);
    const layout = await readDiskPartitions(bufferReader(Buffer.concat([sector, Buffer.alloc(SECTOR * 100)])), SECTOR * 101);
    expect(layout.table).toBe('none');
    expect(layout.warnings).toEqual([expect.stringContaining('entry 1 has boot flag 0x41')]);
  });
});
