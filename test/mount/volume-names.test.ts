// Where volumes appear under DIR: drive letters in Windows' order, names from the guest's fstab or labels, collisions.

import { describe, expect, test } from 'vitest';
import { driveLetters, parseFstab, recognisableNames, type NamedVolumeInput } from '../../src/mount/volume-names.js';

const v = (disk: number, partition: number, fileSystem: string, extra: Partial<NamedVolumeInput> = {}): NamedVolumeInput => ({ disk, partition, fileSystem, ...extra });

describe('drive letters', () => {
  test('C, D, ... in disk then partition order, to the volumes Windows reads, leaving out hidden ones', () => {
    const reserved = v(0, 1, 'ntfs', { label: 'System Reserved' });
    const c = v(0, 2, 'ntfs');
    const efi = v(1, 1, 'fat32', { partitionType: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' });
    const d = v(1, 2, 'fat32');
    const linux = v(1, 3, 'ext4');
    const e = v(2, 5, 'ntfs');
    const letters = driveLetters([e, linux, d, efi, c, reserved]);
    expect([...letters.entries()].map(([vol, l]) => [vol.disk, vol.partition, l])).toEqual([
      [0, 2, 'C'],
      [1, 2, 'D'],
      [2, 5, 'E'],
    ]);
  });
});

describe('recognisable names', () => {
  test('the guest\'s mount point, else the label; a name two volumes share gets their digits', () => {
    const names = recognisableNames([
      v(0, 1, 'ext4', { guestMountPoint: '/' }),
      v(0, 2, 'ext4', { guestMountPoint: '/var/lib/app data' }),
      v(0, 3, 'ext4', { label: 'backup' }),
      v(1, 1, 'ext4', { label: 'backup' }),
      v(1, 2, 'xfs'),
      v(1, 3, 'ntfs', { label: 'Data' }),
    ]);
    expect([...names.values()]).toEqual(['root', 'var-lib-app data', 'backup-0-3', 'backup-1-1']);
  });

  test('a label cannot climb out of names/', () => {
    const names = recognisableNames([v(0, 1, 'ext4', { label: '../../etc' })]);
    expect([...names.values()][0]).not.toContain('/');
    expect([...names.values()][0]).not.toMatch(/^\./);
  });
});

test('fstab: UUID=, LABEL= and /dev/disk/by-* entries, comments and swap left out', () => {
  const entries = parseFstab(
    [
      '# <fs> <mp> <type>',
      'UUID=5B0E6A43-7F8D-4EAC-A0B1-C3D4E5F6A7B3 / ext4 errors=remount-ro 0 1',
      'LABEL=boot   /boot ext4 defaults 0 2',
      '/dev/disk/by-label/data\\040disk /srv/data\\040disk ext4 defaults 0 2',
      'UUID=1111 none swap sw 0 0',
      'proc /proc proc defaults 0 0',
    ].join('\n'),
  );
  expect(entries).toEqual([
    { uuid: '5b0e6a43-7f8d-4eac-a0b1-c3d4e5f6a7b3', mountPoint: '/' },
    { label: 'boot', mountPoint: '/boot' },
    { label: 'data disk', mountPoint: '/srv/data disk' },
  ]);
});
