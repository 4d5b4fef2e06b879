// probeFileSystem on hand-built superblocks of the formats whose mkfs tools this machine lacks (exFAT, XFS, btrfs, LVM2),
// laid out from the formats' published descriptions, plus signature conflicts and non-file-systems.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { probeFileSystem } from '../../src/guestfs/probe.js';
import { bufferReader } from './disk-tools.js';

const probe = (volume: Buffer) => probeFileSystem(bufferReader(volume), 0, volume.length);
const uuidBytes = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const UUID = '00112233-4455-6677-8899-aabbccddeeff';

describe('exFAT', () => {
  /** 512-byte sectors, 4 KiB clusters, cluster heap at sector 64, root directory in cluster 4 (byte 40960). */
  function exfat(flags: number, rootEntries: Buffer[]): Buffer {
    const v = Buffer.alloc(1024 * 1024);
    v.set([0xeb, 0x76, 0x90], 0);
    v.write('EXFAT   ', 3, 'latin1');
    v.writeBigUInt64LE(2048n, 72);
    v.writeUInt32LE(24, 80);
    v.writeUInt32LE(8, 84);
    v.writeUInt32LE(64, 88);
    v.writeUInt32LE(240, 92);
    v.writeUInt32LE(4, 96);
    v.writeUInt32LE(0x1234abcd, 100);
    v.writeUInt16LE(0x0100, 104);
    v.writeUInt16LE(flags, 106);
    v[108] = 9;
    v[109] = 3;
    v[110] = 1;
    v.writeUInt16LE(0xaa55, 510);
    Buffer.concat(rootEntries).copy(v, 64 * 512 + 2 * 4096);
    return v;
  }
  const entry = (type: number, fill: (e: Buffer) => void = () => undefined): Buffer => {
    const e = Buffer.alloc(32);
    e[0] = type;
    fill(e);
    return e;
  };
  const label = (text: string) =>
    entry(0x83, (e) => {
      e[1] = text.length;
      e.write(text, 2, 'utf16le');
    });

  it('label from the root directory entry 0x83, serial as XXXX-XXXX, clean', async () => {
    expect(await probe(exfat(0, [entry(0x81), entry(0x82), label('Kamera ü')]))).toEqual({ type: 'exfat', label: 'Kamera ü', uuid: '1234-ABCD', dirty: false });
  });

  it('dirty from the volume flags; a label entry after the end-of-directory marker is not one', async () => {
    expect(await probe(exfat(0x2, [entry(0x81), entry(0x00), label('Gone')]))).toEqual({ type: 'exfat', uuid: '1234-ABCD', dirty: true, detail: 'volume flags say dirty' });
  });
});

describe('XFS', () => {
  const xfs = (blockSize: number): Buffer => {
    const v = Buffer.alloc(256 * 1024);
    v.write('XFSB', 0, 'latin1');
    v.writeUInt32BE(blockSize, 4);
    uuidBytes.copy(v, 32);
    v.write('xfsroot', 108, 'latin1');
    return v;
  };

  it('label and UUID from the superblock', async () => {
    expect(await probe(xfs(4096))).toEqual({ type: 'xfs', label: 'xfsroot', uuid: UUID });
  });

  it('"XFSB" with an impossible block size is not XFS', async () => {
    expect(await probe(xfs(3000))).toEqual({ type: 'unknown' });
  });
});

describe('btrfs', () => {
  const btrfs = (logRoot: bigint, bytes = 1024 * 1024): Buffer => {
    const v = Buffer.alloc(bytes);
    const sb = v.subarray(65536);
    uuidBytes.copy(sb, 0x20);
    sb.writeBigUInt64LE(65536n, 0x30);
    sb.write('_BHRfS_M', 0x40, 'latin1');
    sb.writeBigUInt64LE(logRoot, 0x60);
    sb.write('btrfs-home', 0x12b, 'utf8');
    return v;
  };

  it('label and fsid from the superblock at 64 KiB', async () => {
    expect(await probe(btrfs(0n))).toEqual({ type: 'btrfs', label: 'btrfs-home', uuid: UUID, dirty: false });
  });

  it('a log tree to replay makes it dirty', async () => {
    expect(await probe(btrfs(0x1d4000n))).toEqual({ type: 'btrfs', label: 'btrfs-home', uuid: UUID, dirty: true, detail: 'a log tree to replay' });
  });

  it('a superblock past the volume given is not looked at', async () => {
    const v = btrfs(0n);
    expect(await probeFileSystem(bufferReader(v), 0, 65536 + 1024)).toEqual({ type: 'unknown' });
  });
});

describe('LVM2 physical volume', () => {
  const pv = (sector: number, sectorField: bigint): Buffer => {
    const v = Buffer.alloc(64 * 1024);
    const label = v.subarray(sector * 512, sector * 512 + 512);
    label.write('LABELONE', 0, 'latin1');
    label.writeBigUInt64LE(sectorField, 8);
    label.writeUInt32LE(32, 20);
    label.write('LVM2 001', 24, 'latin1');
    label.write('AbCdEf0123456789GhIjKlMnOpQrStUv', 32, 'latin1');
    return v;
  };

  it('the PV UUID, grouped as LVM shows it, from a label in sector 1', async () => {
    expect(await probe(pv(1, 1n))).toEqual({ type: 'lvm2', uuid: 'AbCdEf-0123-4567-89Gh-IjKl-MnOp-QrStUv' });
  });

  it('a label whose sector field names another sector is not one', async () => {
    expect(await probe(pv(1, 0n))).toEqual({ type: 'unknown' });
  });
});

describe('other signatures and non-file-systems', () => {
  it('a hibernation image in a swap area', async () => {
    const v = Buffer.alloc(64 * 1024);
    v.write('S1SUSPEND', 4086, 'latin1');
    expect(await probe(v)).toEqual({ type: 'swap', detail: 'holds a hibernation image (S1SUSPEND)' });
  });

  it('an external ext journal is not a mountable file system', async () => {
    const v = Buffer.alloc(64 * 1024);
    v.writeUInt16LE(0xef53, 1024 + 56);
    v.writeUInt16LE(1, 1024 + 58);
    v.writeUInt32LE(1, 1024 + 76);
    v.writeUInt32LE(0x8, 1024 + 96);
    expect(await probe(v)).toEqual({ type: 'unknown', detail: 'an external ext3/ext4 journal device' });
  });

  it('two signatures: the first in order wins and the other is named', async () => {
    const v = Buffer.alloc(256 * 1024);
    v.write('XFSB', 0, 'latin1');
    v.writeUInt32BE(4096, 4);
    v.writeUInt16LE(0xef53, 1024 + 56);
    v.writeUInt16LE(1, 1024 + 58);
    expect(await probe(v)).toEqual({ type: 'xfs', detail: 'also carries ext2 signature' });
  });

  it('random bytes and a tiny volume are unknown', async () => {
    expect(await probe(randomBytes(256 * 1024))).toEqual({ type: 'unknown' });
    expect(await probe(Buffer.alloc(100))).toEqual({ type: 'unknown', detail: 'volume of 100 bytes is too small to hold a file system' });
  });
});
