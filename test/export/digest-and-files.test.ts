// .vmx rewriting, small-file selection and export names.

import { describe, expect, it } from 'vitest';
import { exportDescriptorNames, isCopyableVmFile, rewriteVmxDiskFileNames } from '../../src/export/index.js';

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
