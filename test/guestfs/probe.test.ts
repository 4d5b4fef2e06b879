// probeFileSystem on volumes made and altered by the real tools (mkfs.vfat, mke2fs, debugfs, mkntfs, ntfslabel, mkswap), checked against blkid, debugfs and ntfsinfo.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeFileSystem } from '../../src/guestfs/probe.js';
import { blkid, blkidFsType, fileReader, makeTempDir, MiB, patchFile, placeImage, readFileAt, sparseFile, tool } from './disk-tools.js';

let temp: Awaited<ReturnType<typeof makeTempDir>>;
let counter = 0;

beforeAll(async () => {
  temp = await makeTempDir('probe');
});
afterAll(async () => {
  await temp?.remove();
});

async function image(bytes: number, make: (path: string) => Promise<unknown>): Promise<string> {
  const path = await sparseFile(join(temp.dir, `v${counter++}.img`), bytes);
  await make(path);
  return path;
}

const probe = (path: string, bytes: number) => probeFileSystem(fileReader(path), 0, bytes);

describe('FAT', () => {
  it.each([
    ['12', 2 * MiB],
    ['16', 20 * MiB],
    ['32', 40 * MiB],
  ])('FAT%s as blkid sees it: type, label, serial', async (bits, bytes) => {
    const path = await image(bytes, (p) => tool('mkfs.vfat', ['-F', bits, '-n', `VOL${bits}`, p]));
    const fields = await blkid(path);
    expect(fields.VERSION).toBe(`FAT${bits}`);
    expect(await probe(path, bytes)).toEqual({ type: blkidFsType(fields), label: `VOL${bits}`, uuid: fields.UUID });
  });

  it.each(['NO NAME    ', 'OTHERNAME  '])('the root directory label wins over the boot sector one (%s; Windows updates only the former)', async (bpb) => {
    const bytes = 20 * MiB;
    const path = await image(bytes, (p) => tool('mkfs.vfat', ['-F', '16', '-n', 'ROOTLBL', p]));
    await patchFile(path, 0x2b, Buffer.from(bpb, 'latin1'));
    expect((await blkid(path)).LABEL).toBe('ROOTLBL');
    expect((await probe(path, bytes)).label).toBe('ROOTLBL');
  });

  it('without a root directory label, the boot sector label is used (blkid shows it as LABEL_FATBOOT)', async () => {
    const bytes = 40 * MiB;
    const path = await image(bytes, (p) => tool('mkfs.vfat', ['-F', '32', p]));
    await patchFile(path, 0x47, Buffer.from('BPBONLY    ', 'latin1'));
    expect((await blkid(path)).LABEL_FATBOOT).toBe('BPBONLY');
    expect((await probe(path, bytes)).label).toBe('BPBONLY');
  });

  it('"NO NAME" in the boot sector and no root label: no label', async () => {
    const bytes = 20 * MiB;
    const path = await image(bytes, (p) => tool('mkfs.vfat', ['-F', '16', p]));
    expect((await readFileAt(path, 0x2b, 11)).toString('latin1')).toBe('NO NAME    ');
    const found = await probe(path, bytes);
    expect(found.type).toBe('fat16');
    expect(found.label).toBeUndefined();
  });
});

describe('ext2/3/4', () => {
  it('a journal that needs recovery (debugfs sets needs_recovery) makes ext4 dirty', async () => {
    const bytes = 16 * MiB;
    const path = await image(bytes, (p) => tool('mke2fs', ['-q', '-F', '-t', 'ext4', p]));
    expect((await probe(path, bytes)).dirty).toBe(false);
    await tool('debugfs', ['-w', '-R', 'feature needs_recovery', path]);
    expect(await tool('debugfs', ['-R', 'features', path])).toContain('needs_recovery');
    expect(await probe(path, bytes)).toMatchObject({ type: 'ext4', dirty: true, detail: 'its journal needs recovery' });
  });

  it('an ext2 not cleanly unmounted (state 0, set by debugfs) is dirty; errors are reported', async () => {
    const bytes = 8 * MiB;
    const path = await image(bytes, (p) => tool('mke2fs', ['-q', '-F', '-t', 'ext2', p]));
    await tool('debugfs', ['-w', '-R', 'ssv state 2', path]);
    expect(await probe(path, bytes)).toMatchObject({ type: 'ext2', dirty: true, detail: 'not cleanly unmounted; errors recorded in the superblock' });
  });

  it('ext4 told by its incompat features alone (extents, flex_bg; no ro_compat feature ext3 lacks)', async () => {
    const bytes = 16 * MiB;
    const features = '^has_journal,^huge_file,^dir_nlink,^extra_isize,^metadata_csum,^64bit,^metadata_csum_seed,^orphan_file';
    const path = await image(bytes, (p) => tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', features, p]));
    const shown = await tool('debugfs', ['-R', 'features', path]);
    expect(shown).toContain('extent');
    expect(shown).not.toMatch(/huge_file|dir_nlink|extra_isize|metadata_csum|has_journal/);
    expect((await blkid(path)).TYPE).toBe('ext4');
    expect((await probe(path, bytes)).type).toBe('ext4');
  });

  it('a label set later with e2label, and the UUID blkid reports', async () => {
    const bytes = 16 * MiB;
    const path = await image(bytes, (p) => tool('mke2fs', ['-q', '-F', '-t', 'ext3', p]));
    await tool('e2label', [path, 'relabelled']);
    const fields = await blkid(path);
    expect(await probe(path, bytes)).toEqual({ type: 'ext3', label: 'relabelled', uuid: fields.UUID, dirty: false });
  });
});

describe('NTFS', () => {
  const bytes = 16 * MiB;

  /** Byte offsets of record 3 ($Volume) in the MFT and in its mirror, and of the VOLUME_INFORMATION flags in the record. */
  async function volumeRecord(path: string): Promise<{ mft: number; mirror: number; flags: number }> {
    const bs = await readFileAt(path, 0, 512);
    const cluster = bs.readUInt16LE(11) * bs[13]!;
    expect(bs.readInt8(0x40)).toBe(-10); // 1 KiB records, as mkntfs makes them
    const mft = Number(bs.readBigUInt64LE(0x30)) * cluster + 3 * 1024;
    const record = await readFileAt(path, mft, 1024);
    for (let at = record.readUInt16LE(0x14); record.readUInt32LE(at) !== 0xffffffff; at += record.readUInt32LE(at + 4)) {
      if (record.readUInt32LE(at) === 0x70) return { mft, mirror: Number(bs.readBigUInt64LE(0x38)) * cluster + 3 * 1024, flags: at + record.readUInt16LE(at + 20) + 10 };
    }
    throw new Error('no VOLUME_INFORMATION');
  }

  it('label from $Volume (changed by ntfslabel after mkntfs, read back by ntfslabel), serial as blkid shows it, clean', async () => {
    const path = await image(bytes, (p) => tool('mkntfs', ['-Q', '-F', '-L', 'First', p]));
    await tool('ntfslabel', ['--force', path, 'Zweite Übung']);
    const fields = await blkid(path);
    expect(await tool('ntfslabel', ['--force', path])).toBe('Zweite Übung'); // blkid's export escapes non-ASCII
    expect(await probe(path, bytes)).toEqual({ type: 'ntfs', label: 'Zweite Übung', uuid: fields.UUID, dirty: false });
  });

  it("a 120-character label, which crosses the record's first update sequence slot (byte 510)", async () => {
    const label = 'Lang-'.repeat(24);
    const path = await image(bytes, (p) => tool('mkntfs', ['-Q', '-F', '-L', 'x', p]));
    await tool('ntfslabel', ['--force', path, label]);
    expect(await tool('ntfslabel', ['--force', path])).toBe(label);
    expect((await probe(path, bytes)).label).toBe(label);
  });

  it('the dirty flag of $VOLUME_INFORMATION (ntfsinfo agrees)', async () => {
    const path = await image(bytes, (p) => tool('mkntfs', ['-Q', '-F', '-L', 'Dirty', p]));
    const where = await volumeRecord(path);
    expect(where.flags % 512).not.toBe(510); // not a place the update sequence covers
    await patchFile(path, where.mft + where.flags, Buffer.from([0x01, 0x00]));
    await patchFile(path, where.mirror + where.flags, Buffer.from([0x01, 0x00]));
    expect(await tool('ntfsinfo', ['-f', '-m', path])).toMatch(/Volume Flags: 0x0001 DIRTY/);
    expect(await probe(path, bytes)).toMatchObject({ type: 'ntfs', label: 'Dirty', dirty: true, detail: 'volume flags say dirty' });
  });

  it('a torn $Volume record: still NTFS with its serial, label left out and the reason given', async () => {
    const path = await image(bytes, (p) => tool('mkntfs', ['-Q', '-F', '-L', 'Torn', p]));
    const where = await volumeRecord(path);
    await patchFile(path, where.mft + 1022, Buffer.from([0xde, 0xad]));
    const found = await probe(path, bytes);
    expect(found.type).toBe('ntfs');
    expect(found.uuid).toBe((await blkid(path)).UUID);
    expect(found.label).toBeUndefined();
    expect(found.detail).toBe("label and dirty flag not read: $Volume's MFT record is torn (update sequence mismatch in block 2)");
  });

  it('reads nothing outside the volume it is given: an MFT past the given size leaves the label out', async () => {
    const path = await image(bytes, (p) => tool('mkntfs', ['-Q', '-F', '-L', 'Cut', p]));
    const where = await volumeRecord(path);
    const inner = fileReader(path);
    const size = where.mft; // the volume as given ends where $Volume's record starts
    const guarded = async (offset: number, length: number): Promise<Buffer> => {
      if (offset + length > size) throw new Error(`read past the volume: ${offset}+${length}`);
      return inner(offset, length);
    };
    const found = await probeFileSystem(guarded, 0, size);
    expect(found.type).toBe('ntfs');
    expect(found.label).toBeUndefined();
    expect(found.detail).toMatch(/^label and dirty flag not read: \$Volume's MFT record \(byte \d+\) lies outside the volume$/);
  });
});

describe('swap', () => {
  it('a swap area from mkswap: label and UUID as blkid sees them', async () => {
    const bytes = 8 * MiB;
    const path = await image(bytes, (p) => tool('mkswap', ['-L', 'swaplbl', p]));
    const fields = await blkid(path);
    expect(fields.TYPE).toBe('swap');
    expect(await probe(path, bytes)).toEqual({ type: 'swap', label: 'swaplbl', uuid: fields.UUID });
  });
});

describe('volumes at an offset of a larger disk', () => {
  it('probes relative to the given offset', async () => {
    const bytes = 16 * MiB;
    const fs = await image(bytes, (p) => tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'inner', p]));
    const disk = await sparseFile(join(temp.dir, 'offset-disk.img'), 64 * MiB);
    await placeImage(disk, fs, 7 * MiB);
    expect(await probeFileSystem(fileReader(disk), 7 * MiB, bytes)).toMatchObject({ type: 'ext4', label: 'inner' });
    expect(await probeFileSystem(fileReader(disk), 0, 7 * MiB)).toEqual({ type: 'unknown' });
  });
});
