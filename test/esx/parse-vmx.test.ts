import { describe, expect, it } from 'vitest';
import { descriptorCreateType, listVmxDisks, rdmFromDescriptor } from '../../src/esx/parse/vmx-disks.js';
import { parseVmsd } from '../../src/esx/parse/vmsd.js';
import { decodeVmxValue, parseVmx } from '../../src/esx/parse/vmx.js';
import { catchVcbError } from './catch-error.js';

const VMX_TEXT = `.encoding = "UTF-8"
#!/usr/bin/vmware
config.version = "8"
virtualHW.version = "13"
displayName = "web |22prod|22 ü"
guestOS = "otherlinux-64"
uuid.bios = "56 4d 7c 9e 5d 1b 8a 4e-b2 c0 6f 3a 1d 2e 9b 10"
nvram = "web 01.nvram"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "web 01-000001.vmdk"
scsi0:0.deviceType = "scsi-hardDisk"
SCSI0:1.Present = "true"
scsi0:1.fileName = "/vmfs/volumes/datastore2/shared/data.vmdk"
scsi0:1.mode = "independent-persistent"
scsi1:0.present = "TRUE"
scsi1:0.fileName = "[san] rdm/lun5.vmdk"
scsi1:0.deviceType = "scsi-passthru"
sata0:0.present = "TRUE"
sata0:0.fileName = "web 01_1.vmdk"
ide1:0.present = "TRUE"
ide1:0.fileName = "/vmfs/volumes/datastore1/iso/debian.iso"
ide1:0.deviceType = "cdrom-image"
ide0:0.present = "FALSE"
ide0:0.fileName = "old.vmdk"
nvme0:0.fileName = "fast.vmdk"
ethernet0.present = "TRUE"
floppy0.present = FALSE
`;

describe('parseVmx', () => {
  it('keeps original keys and looks them up case-insensitively', () => {
    const vmx = parseVmx(VMX_TEXT);
    expect(vmx.get('displayname')).toBe('web "prod" ü');
    expect(vmx.get('DISPLAYNAME')).toBe('web "prod" ü');
    expect(vmx.get('scsi0:1.present')).toBe('true');
    expect(vmx.entries.find((e) => e.key === 'SCSI0:1.Present')?.line).toBe(13);
    expect(vmx.get('floppy0.present')).toBe('FALSE');
    expect(vmx.get('missing')).toBeUndefined();
    expect(vmx.has('uuid.BIOS')).toBe(true);
  });

  it('lets the last duplicate win and keeps quotes inside values', () => {
    const vmx = parseVmx('a = "1"\nA = "2"\nannotation = "say "hi""\nempty = ""\n');
    expect(vmx.get('a')).toBe('2');
    expect(vmx.get('annotation')).toBe('say "hi"');
    expect(vmx.get('empty')).toBe('');
  });

  it('decodes |XX escapes as UTF-8 bytes', () => {
    expect(decodeVmxValue('a|7Cb|22')).toBe('a|b"');
    expect(decodeVmxValue('|C3|BC')).toBe('ü');
    expect(decodeVmxValue('no|pipe')).toBe('no|pipe');
  });

  it('names a malformed line', () => {
    const err = catchVcbError(() => parseVmx('a = "1"\nthis is not a setting\n', ['cat', '/vmfs/volumes/ds/a/a.vmx']));
    expect(err.message).toContain('line 2');
    expect(err.message).toContain('this is not a setting');
    expect(err.context.command).toEqual(['cat', '/vmfs/volumes/ds/a/a.vmx']);
  });
});

describe('listVmxDisks', () => {
  it('lists present .vmdk disks in controller order with resolved paths and classification', () => {
    const disks = listVmxDisks(parseVmx(VMX_TEXT), '/vmfs/volumes/datastore1/web 01/web 01.vmx');
    expect(disks.map((d) => [d.device, d.path, d.independent, d.rdm])).toEqual([
      ['scsi0:0', '/vmfs/volumes/datastore1/web 01/web 01-000001.vmdk', false, false],
      ['scsi0:1', '/vmfs/volumes/datastore2/shared/data.vmdk', true, false],
      ['scsi1:0', '/vmfs/volumes/san/rdm/lun5.vmdk', false, true],
      ['sata0:0', '/vmfs/volumes/datastore1/web 01/web 01_1.vmdk', false, false],
      ['nvme0:0', '/vmfs/volumes/datastore1/web 01/fast.vmdk', false, false],
    ]);
    expect(disks[1]).toMatchObject({ bus: 'scsi', controller: 0, unit: 1, mode: 'independent-persistent', fileName: '/vmfs/volumes/datastore2/shared/data.vmdk' });
  });

  it('reads RDM compatibility from a descriptor createType', () => {
    const physical = '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfsPassthroughRawDeviceMap"\n\nRW 2097152 VMFSRDM "lun5-rdmp.vmdk"\n';
    expect(descriptorCreateType(physical)).toBe('vmfsPassthroughRawDeviceMap');
    expect(rdmFromDescriptor(physical)).toBe('physical');
    expect(rdmFromDescriptor('createType="vmfsRawDeviceMap"\n')).toBe('virtual');
    expect(rdmFromDescriptor('createType="vmfs"\n')).toBeUndefined();
    expect(rdmFromDescriptor('version=1\n')).toBeUndefined();
  });
});

describe('parseVmsd', () => {
  it('rebuilds the tree with uids as ids and creation times', () => {
    const text = `.encoding = "UTF-8"
snapshot.lastUID = "3"
snapshot.numSnapshots = "3"
snapshot.current = "3"
snapshot0.uid = "1"
snapshot0.filename = "vm-Snapshot1.vmsn"
snapshot0.displayName = "before upgrade"
snapshot0.description = "user snapshot"
snapshot0.createTimeHigh = "365452"
snapshot0.createTimeLow = "-1361444864"
snapshot0.numDisks = "1"
snapshot2.uid = "3"
snapshot2.parent = "1"
snapshot2.displayName = "_VCB-BACKUP_"
snapshot1.uid = "2"
snapshot1.parent = "1"
snapshot1.displayName = "branch"
`;
    const list = parseVmsd(text);
    expect(list.map((s) => [s.name, s.id, s.depth, s.parentName, s.parentId])).toEqual([
      ['before upgrade', '1', 0, undefined, undefined],
      ['branch', '2', 1, 'before upgrade', '1'],
      ['_VCB-BACKUP_', '3', 1, 'before upgrade', '1'],
    ]);
    const micros = 365452n * 2n ** 32n + BigInt(-1361444864 >>> 0);
    expect(list[0]!.createdOn).toBe(new Date(Number(micros / 1000n)).toISOString());
    expect(list[1]!.createdOn).toBe('');
  });

  it('returns [] for an empty database and rejects a count that does not match', () => {
    expect(parseVmsd('.encoding = "UTF-8"\nsnapshot.lastUID = "4"\n')).toEqual([]);
    const err = catchVcbError(() => parseVmsd('snapshot.numSnapshots = "2"\nsnapshot0.uid = "1"\n', ['cat', '/x.vmsd']));
    expect(err.message).toContain('numSnapshots is 2 but 1');
  });
});
