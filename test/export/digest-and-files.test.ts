// Block digest definition, .vmx rewriting, small-file selection and export names.

import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DIGEST_BLOCK, exportDescriptorNames, isCopyableVmFile, rewriteVmxDiskFileNames, StreamingBlockHasher } from '../../src/export/index.js';

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('StreamingBlockHasher', () => {
  it('lists exactly the non-zero blocks with sha256 of their full bytes, whatever the chunking and gaps', () => {
    const capacity = 4 * DIGEST_BLOCK + 4096;
    const image = Buffer.alloc(capacity);
    randomBytes(100).copy(image, DIGEST_BLOCK + 500_000);
    randomBytes(3000).copy(image, 3 * DIGEST_BLOCK - 1500);
    randomBytes(10).copy(image, 4 * DIGEST_BLOCK + 4000);
    const lines: string[] = [];
    const hasher = new StreamingBlockHasher(capacity, (offset, hex) => lines.push(`${offset} ${hex}`));
    const writes: Array<[number, number]> = [[0, 300_000], [DIGEST_BLOCK + 400_000, 1_000_000], [3 * DIGEST_BLOCK - 2000, 4000], [4 * DIGEST_BLOCK, 4096]];
    for (const [offset, length] of writes) hasher.update(offset, image.subarray(offset, offset + length));
    hasher.finish();
    const blockAt = (i: number) => image.subarray(i * DIGEST_BLOCK, Math.min(capacity, (i + 1) * DIGEST_BLOCK));
    expect(lines).toEqual([1, 2, 3, 4].map((i) => `${i * DIGEST_BLOCK} ${sha(blockAt(i))}`));
  });

  it('rejects offsets going backwards', () => {
    const hasher = new StreamingBlockHasher(4 * DIGEST_BLOCK, () => {});
    hasher.update(2 * DIGEST_BLOCK, Buffer.from([1]));
    expect(() => hasher.update(0, Buffer.from([1]))).toThrow(/after block 2/);
  });
});

describe('VM files', () => {
  it.each([
    ['web01.nvram', true], ['web01.vmsd', true], ['vmware.log', true], ['vmware-3.log', true],
    ['web01-8a7f.vswp', false], ['web01-000001-delta.vmdk', false], ['web01-000001.vmdk', false],
    ['web01.vmdk', false], ['web01-flat.vmdk', false], ['web01-Snapshot1.vmsn', false], ['other.log', false],
  ])('%s copyable: %s', (name, copyable) => {
    expect(isCopyableVmFile(`/vmfs/volumes/ds/web01/${name}`)).toBe(copyable);
  });

  it('rewrites only the given disk fileName lines, escaping quotes', () => {
    const vmx = 'displayName = "a"\nscsi0:0.fileName = "a-000002.vmdk"\nSCSI0:1.FILENAME="b.vmdk"\nide1:0.fileName = "cd.iso"\n';
    expect(rewriteVmxDiskFileNames(vmx, { 'scsi0:0': 'a.vmdk', 'scsi0:1': 'b"x.vmdk' })).toBe(
      'displayName = "a"\nscsi0:0.fileName = "a.vmdk"\nSCSI0:1.FILENAME="b|22x.vmdk"\nide1:0.fileName = "cd.iso"\n',
    );
    expect(() => rewriteVmxDiskFileNames(vmx, { 'scsi1:0': 'x.vmdk' })).toThrow(/scsi1:0/);
  });

  it('names export disks after their source, with the slot when names collide', () => {
    expect(
      exportDescriptorNames([
        { slot: 'scsi0:0', sourceDatastorePath: '[ds1] web 01/web 01.vmdk' },
        { slot: 'scsi0:1', sourceDatastorePath: '[ds2] web 01/web 01.vmdk' },
        { slot: 'scsi0:2', sourceDatastorePath: '[ds1] web 01/data$(x).vmdk' },
      ]),
    ).toEqual(['web_01-scsi0-0.vmdk', 'web_01-scsi0-1.vmdk', 'data_(x).vmdk']);
  });
});
