import { describe, expect, it } from 'vitest';
import { parseBlockMap } from '../../src/esx/parse/block-map.js';
import { catchVcbError } from './catch-error.js';

const LVID = '4ab1c8f8-e7d1f6a0-a58b-001b785e3e22';
const VOL = '4ab1c8f8-d9a7d8e8-0edc-001b785e3e22';
const CMD = ['vmkfstools', '-t0', '/vmfs/volumes/datastore1/web 01/web 01.vmdk'];

describe('parseBlockMap', () => {
  it('reads mapped, unzeroed and hole extents with hex LUN offsets', () => {
    const out = [
      'Mapping for file /vmfs/volumes/datastore1/web 01/web 01-flat.vmdk (4194304 bytes in size):',
      `[           0:     1048576] --> [VMFS -- LVID:${LVID}/${VOL}/1:( 0x0000000025c00000 -->  0x0000000025d00000)]`,
      `[     1048576:     1048576] --> [VMFS Z- LVID:${LVID}/${VOL}/1:( 0x0000000030000000 --> 0x00000000300fffff)]`,
      `[     2097152:     2097152] --> [NOMP -- :( 0x0000000000000000 --> 0x00000000001fffff)]`,
      '',
    ].join('\n');
    expect(parseBlockMap(out, CMD)).toEqual({
      path: '/vmfs/volumes/datastore1/web 01/web 01-flat.vmdk',
      size: 4194304,
      extents: [
        { fileOffset: 0, length: 1048576, kind: 'mapped', lunOffset: 0x25c00000, lvid: LVID, volumeUuid: VOL, lvmExtent: 1 },
        { fileOffset: 1048576, length: 1048576, kind: 'unzeroed', lunOffset: 0x30000000, lvid: LVID, volumeUuid: VOL, lvmExtent: 1 },
        { fileOffset: 2097152, length: 2097152, kind: 'hole' },
      ],
    });
  });

  it('accepts tight spacing and decimal LUN offsets', () => {
    const out = `Mapping for file /vmfs/volumes/ds/a.vmdk (1024 bytes in size):\n[0:1024] --> [VMFS -- LVID:${LVID}/${VOL}/2:(4096 --> 5120)]\n`;
    expect(parseBlockMap(out, CMD).extents[0]).toMatchObject({ lunOffset: 4096, lvmExtent: 2, kind: 'mapped' });
  });

  it('accepts a disk with no extents when its size is 0', () => {
    expect(parseBlockMap('Mapping for file /vmfs/volumes/ds/e.vmdk (0 bytes in size):\n', CMD).extents).toEqual([]);
  });

  const header = 'Mapping for file /vmfs/volumes/ds/a.vmdk (2048 bytes in size):';
  const mapped = (off: number, len: number, lun = 8192): string =>
    `[ ${off}: ${len}] --> [VMFS -- LVID:${LVID}/${VOL}/1:( ${lun} --> ${lun + len})]`;
  it.each([
    ['a gap between extents', [header, mapped(0, 1024), mapped(1536, 512)], 'line 3', 'expected 1024'],
    ['extents shorter than the size', [header, mapped(0, 1024)], undefined, 'cover 1024 bytes, the header says 2048'],
    ['an unknown extent kind', [header, `[ 0: 2048] --> [RDMP -- :( 0 --> 2048)]`], 'line 2', 'unknown extent kind'],
    ['a LUN range that disagrees with the length', [header, mapped(0, 1024), `[ 1024: 1024] --> [VMFS -- LVID:${LVID}/${VOL}/1:( 0 --> 4096)]`], 'line 3', 'LUN range'],
    ['garbage instead of an extent', [header, 'Failed to get disk mapping: Device or resource busy'], 'line 2', 'resource busy'],
    ['no header', [mapped(0, 2048)], 'line 1', 'Mapping for file'],
    ['text before the header', ['warning: something', header, mapped(0, 2048)], 'line 1', 'warning: something'],
  ])('fails on %s', (_label, lines, where, mention) => {
    const err = catchVcbError(() => parseBlockMap(lines.join('\n'), CMD));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.context.command).toEqual(CMD);
    expect(err.message).toContain(mention);
    if (where) expect(err.message).toContain(where);
  });
});

describe('parseBlockMap against the simulator formatter', () => {
  it('reads what the simulated vmkfstools prints', async () => {
    const { formatBlockMap } = await import('../../src/sim/vmfs/blockmap-format.js');
    const text = formatBlockMap(
      '/vmfs/volumes/ds/a-flat.vmdk',
      3 * 1048576,
      [
        { fileOffset: 0, length: 1048576, kind: 'mapped', lunOffset: 65536 },
        { fileOffset: 1048576, length: 1048576, kind: 'hole' },
        { fileOffset: 2097152, length: 1048576, kind: 'unzeroed', lunOffset: 9 * 1048576 },
      ] as never,
      { uuid: VOL, lvid: LVID },
    );
    const map = parseBlockMap(text, CMD);
    expect(map.extents.map((e) => [e.kind, e.fileOffset, e.length, e.lunOffset])).toEqual([
      ['mapped', 0, 1048576, 65536],
      ['hole', 1048576, 1048576, undefined],
      ['unzeroed', 2097152, 1048576, 9 * 1048576],
    ]);
  });
});
