// Renders a file's block map the way `vmkfstools -t0 <file>` prints it on a host.

import type { BlockExtent } from './types.js';

/**
 * One line per extent:
 *   [<fileOffset>:<length>] --> [VMFS -- LVID:<lvid>/<uuid>/1:(<lunStart> --> <lunEnd>)]
 * "VMFS Z-" replaces "VMFS --" for allocated but unzeroed blocks, and holes print
 *   [<fileOffset>:<length>] --> [NOMP -- :(0 --> 0)]
 * The left bracket holds the file offset and the extent LENGTH (not an end offset). On the right, lunEnd is
 * EXCLUSIVE: lunEnd = lunStart + length. Numbers are right-aligned (12 wide on the left, 12 wide after "(" on
 * the right); readers must tokenize rather than rely on the spacing. The "/1" is the volume's LVM extent number
 * (the LUN, for a datastore spanning several), and lunStart counts from that extent's first byte (the start of its
 * VMFS partition): an extent of the file that crosses from one LUN to the next prints as two lines.
 */
export function formatBlockMap(
  canonicalPath: string,
  size: number,
  extents: readonly BlockExtent[],
  ds: { uuid: string; lvid: string; extents?: readonly { number: number; volumeStart: number; bytes: number }[] },
): string {
  const lines = [`Mapping for file ${canonicalPath} (${size} bytes in size):`];
  for (const extent of extents) {
    const left = `[${pad(extent.fileOffset)}:${pad(extent.length)}]`;
    if (extent.kind === 'hole') {
      lines.push(`${left} --> [NOMP -- :( ${pad(0)} --> ${pad(0)})]`);
      continue;
    }
    const flag = extent.kind === 'unzeroed' ? 'Z-' : '--';
    const volumeExtents = ds.extents ?? [{ number: 1, volumeStart: 0, bytes: Number.MAX_SAFE_INTEGER }];
    let done = 0;
    while (done < extent.length) {
      const volumeOffset = (extent.lunOffset ?? 0) + done;
      const lun = volumeExtents.find((e) => volumeOffset < e.volumeStart + e.bytes) ?? volumeExtents[volumeExtents.length - 1]!;
      const start = volumeOffset - lun.volumeStart;
      const length = Math.min(extent.length - done, lun.volumeStart + lun.bytes - volumeOffset);
      const piece = done === 0 && length === extent.length ? left : `[${pad(extent.fileOffset + done)}:${pad(length)}]`;
      lines.push(`${piece} --> [VMFS ${flag} LVID:${ds.lvid}/${ds.uuid}/${lun.number}:( ${pad(start)} --> ${pad(start + length)})]`);
      done += length;
    }
  }
  return lines.join('\n') + '\n';
}

function pad(n: number): string {
  return String(n).padStart(12, ' ');
}
