// Renders a file's block map the way `vmkfstools -t0 <file>` prints it on a host.

import type { BlockExtent } from './types.js';

/**
 * One line per extent:
 *   [<fileOffset>:<length>] --> [VMFS -- LVID:<lvid>/<uuid>/1:(<lunStart> --> <lunEnd>)]
 * "VMFS Z-" replaces "VMFS --" for allocated but unzeroed blocks, and holes print
 *   [<fileOffset>:<length>] --> [NOMP -- :(0 --> 0)]
 * The left bracket holds the file offset and the extent LENGTH (not an end offset). On the right, lunEnd is
 * EXCLUSIVE: lunEnd = lunStart + length. Numbers are right-aligned (12 wide on the left, 12 wide after "(" on
 * the right); readers must tokenize rather than rely on the spacing. The "/1" is the volume's extent number:
 * a simulated datastore is always one LUN.
 */
export function formatBlockMap(
  canonicalPath: string,
  size: number,
  extents: readonly BlockExtent[],
  ds: { uuid: string; lvid: string },
): string {
  const lines = [`Mapping for file ${canonicalPath} (${size} bytes in size):`];
  for (const extent of extents) {
    const left = `[${pad(extent.fileOffset)}:${pad(extent.length)}]`;
    if (extent.kind === 'hole') {
      lines.push(`${left} --> [NOMP -- :( ${pad(0)} --> ${pad(0)})]`);
      continue;
    }
    const start = extent.lunOffset ?? 0;
    const flag = extent.kind === 'unzeroed' ? 'Z-' : '--';
    lines.push(`${left} --> [VMFS ${flag} LVID:${ds.lvid}/${ds.uuid}/1:( ${pad(start)} --> ${pad(start + extent.length)})]`);
  }
  return lines.join('\n') + '\n';
}

function pad(n: number): string {
  return String(n).padStart(12, ' ');
}
