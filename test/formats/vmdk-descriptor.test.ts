import { describe, expect, it } from 'vitest';
import {
  buildBaseDescriptor,
  buildMonolithicFlatDescriptor,
  buildSnapshotDescriptor,
  buildTwoGbMaxExtentFlatDescriptor,
  capacityBytes,
  capacitySectors,
  DescriptorParseError,
  formatDescriptor,
  isDescriptor,
  newCid,
  NO_PARENT_CID,
  parseDescriptor,
} from '../../src/formats/vmdk-descriptor.js';

const ESX_BASE = `# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=fffffffe
parentCID=ffffffff
isNativeSnapshot="no"
createType="vmfs"

# Extent description
RW 20971520 VMFS "web01-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "1305"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.longContentID = "8a4c3bd1e9f2d1a7b0e7c1f1fffffffe"
ddb.uuid = "60 00 C2 9a 3b 11 4e 05-bd 28 70 61 1e 5f 3c 2a"
ddb.virtualHWVersion = "7"
ddb.thinProvisioned = "1"
`;

const ESX_SNAPSHOT = `# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=5b3d9a01
parentCID=fffffffe
isNativeSnapshot="no"
createType="vmfsSparse"
parentFileNameHint="web01.vmdk"
# Extent description
RW 20971520 VMFSSPARSE "web01-000001-delta.vmdk"

# The Disk Data Base
#DDB

ddb.longContentID = "0c7e2f1a4b5d6e7f8091a2b35b3d9a01"
`;

describe('VMDK descriptor parsing', () => {
  it('reads a base disk descriptor as an ESX host writes it', () => {
    const d = parseDescriptor(ESX_BASE);
    expect(d).toMatchObject({ version: 1, encoding: 'UTF-8', cid: 0xfffffffe, parentCid: NO_PARENT_CID, createType: 'vmfs' });
    expect(d.parentFileNameHint).toBeUndefined();
    expect(d.extents).toEqual([{ access: 'RW', sectors: 20971520, type: 'VMFS', fileName: 'web01-flat.vmdk' }]);
    expect(d.extraHeader).toEqual([{ key: 'isNativeSnapshot', value: 'no', quoted: true }]);
    expect([...d.ddb.keys()]).toEqual([
      'ddb.adapterType',
      'ddb.geometry.cylinders',
      'ddb.geometry.heads',
      'ddb.geometry.sectors',
      'ddb.longContentID',
      'ddb.uuid',
      'ddb.virtualHWVersion',
      'ddb.thinProvisioned',
    ]);
    expect(d.ddb.get('ddb.uuid')).toBe('60 00 C2 9a 3b 11 4e 05-bd 28 70 61 1e 5f 3c 2a');
    expect(capacitySectors(d)).toBe(20971520);
    expect(capacityBytes(d)).toBe(10 * 1024 ** 3);
  });

  it('reads a snapshot child descriptor', () => {
    const d = parseDescriptor(ESX_SNAPSHOT);
    expect(d).toMatchObject({ cid: 0x5b3d9a01, parentCid: 0xfffffffe, createType: 'vmfsSparse', parentFileNameHint: 'web01.vmdk' });
    expect(d.extents).toEqual([{ access: 'RW', sectors: 20971520, type: 'VMFSSPARSE', fileName: 'web01-000001-delta.vmdk' }]);
  });

  it('round-trips: formatting then parsing gives the same descriptor, and the text is stable', () => {
    for (const text of [ESX_BASE, ESX_SNAPSHOT]) {
      const once = formatDescriptor(parseDescriptor(text));
      expect(parseDescriptor(once)).toEqual(parseDescriptor(text));
      expect(formatDescriptor(parseDescriptor(once))).toBe(once);
    }
    expect(formatDescriptor(parseDescriptor(ESX_BASE))).toBe(ESX_BASE);
  });

  it('tolerates CRLF, indentation, spaces around =, comments and unknown lines', () => {
    const messy = [
      '# Disk DescriptorFile',
      '  version = 1  ',
      'CID=0000abcd',
      'parentCID = ffffffff',
      'createType = "monolithicFlat"',
      'some garbage the parser does not know',
      '   RW   2048   FLAT   "disk-flat.vmdk"   0',
      'RDONLY 10 ZERO',
      '#DDB',
      'ddb.custom.thing="x y"',
      '',
    ].join('\r\n');
    const d = parseDescriptor(messy);
    expect(d.cid).toBe(0xabcd);
    expect(d.createType).toBe('monolithicFlat');
    expect(d.extents).toEqual([
      { access: 'RW', sectors: 2048, type: 'FLAT', fileName: 'disk-flat.vmdk', offset: 0 },
      { access: 'RDONLY', sectors: 10, type: 'ZERO' },
    ]);
    expect(d.ddb.get('ddb.custom.thing')).toBe('x y');
  });

  it('names the line of a malformed extent', () => {
    const bad = ESX_BASE.replace('RW 20971520 VMFS "web01-flat.vmdk"', 'RW twenty VMFS "web01-flat.vmdk"');
    expect(() => parseDescriptor(bad)).toThrow(DescriptorParseError);
    expect(() => parseDescriptor(bad)).toThrow(/malformed extent line at line 10: "RW twenty VMFS/);
    const noOffset = ESX_BASE.replace('VMFS "web01-flat.vmdk"', 'FLAT "web01-flat.vmdk"');
    expect(() => parseDescriptor(noOffset)).toThrow(/FLAT extent needs an offset at line 10/);
    const unknownType = ESX_BASE.replace('VMFS "web01', 'BOGUS "web01');
    expect(() => parseDescriptor(unknownType)).toThrow(/unknown extent type BOGUS at line 10/);
    expect(() => parseDescriptor('version=1\nCID=zz\ncreateType="vmfs"\n')).toThrow(/invalid CID at line 2/);
    expect(() => parseDescriptor('version=1\n')).toThrow(/no createType/);
  });

  it('sniffs descriptors from binary extents', () => {
    expect(isDescriptor(Buffer.from(ESX_BASE))).toBe(true);
    expect(isDescriptor(Buffer.from('\n# comment\nversion=1\n'))).toBe(true);
    const cowd = Buffer.alloc(2048);
    cowd.write('COWD', 0, 'latin1');
    expect(isDescriptor(cowd)).toBe(false);
    expect(isDescriptor(Buffer.from('hello world'))).toBe(false);
  });

  it('newCid gives 8-hex-digit IDs that are never the reserved values', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const cid = newCid();
      expect(cid).toBeGreaterThan(0);
      expect(cid).toBeLessThan(0xfffffff0);
      seen.add(cid);
    }
    expect(seen.size).toBeGreaterThan(1990);
  });
});

describe('VMDK descriptor builders', () => {
  it('builds a thin base disk', () => {
    const d = buildBaseDescriptor({ capacitySectors: 20971520, flatFileName: 'web01-flat.vmdk', thin: true, cid: 0x1234 });
    const text = formatDescriptor(d);
    expect(text).toContain('CID=00001234\nparentCID=ffffffff\ncreateType="vmfs"\n');
    expect(text).toContain('\nRW 20971520 VMFS "web01-flat.vmdk"\n');
    expect(text).toContain('\nddb.thinProvisioned = "1"\n');
    expect(text).toContain('\nddb.geometry.cylinders = "1305"\n');
    expect(formatDescriptor(buildBaseDescriptor({ capacitySectors: 2048, flatFileName: 'a-flat.vmdk' }))).not.toContain('thinProvisioned');
  });

  it('builds a snapshot child pointing at its parent', () => {
    const text = formatDescriptor(
      buildSnapshotDescriptor({
        capacitySectors: 20971520,
        deltaFileName: 'web01-000001-delta.vmdk',
        parentFileNameHint: 'web01.vmdk',
        parentCid: 0xfffffffe,
      }),
    );
    expect(text).toMatch(/\nCID=[0-9a-f]{8}\nparentCID=fffffffe\ncreateType="vmfsSparse"\nparentFileNameHint="web01.vmdk"\n/);
    expect(text).toContain('\nRW 20971520 VMFSSPARSE "web01-000001-delta.vmdk"\n');
  });

  it('builds export descriptors: monolithicFlat and twoGbMaxExtentFlat split at 2 GiB', () => {
    const mono = buildMonolithicFlatDescriptor({ capacitySectors: 4096, flatFileName: 'web01-flat.vmdk' });
    expect(formatDescriptor(mono)).toContain('\nRW 4096 FLAT "web01-flat.vmdk" 0\n');
    const split = buildTwoGbMaxExtentFlatDescriptor({ capacitySectors: 2 * 4194304 + 100, descriptorFileName: 'web01.vmdk' });
    expect(split.createType).toBe('twoGbMaxExtentFlat');
    expect(split.extents.map((e) => [e.sectors, e.fileName, e.offset])).toEqual([
      [4194304, 'web01-f001.vmdk', 0],
      [4194304, 'web01-f002.vmdk', 0],
      [100, 'web01-f003.vmdk', 0],
    ]);
    expect(buildTwoGbMaxExtentFlatDescriptor({ capacitySectors: 4194304, descriptorFileName: 'a.vmdk' }).extents).toHaveLength(1);
  });
});
