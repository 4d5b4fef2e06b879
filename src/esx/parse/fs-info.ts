// Parses `vmkfstools -P <path>`: the capacity and free bytes of the VMFS volume holding the path.

import { unexpectedOutput } from '../host-error.js';

export interface VolumeSpace {
  /** Bytes of the volume. */
  capacity: number;
  /** Bytes free for new allocations. */
  free: number;
  /** The volume's label, when printed. */
  label?: string;
  /** The volume uuid (`/vmfs/volumes/<uuid>`), when printed. */
  uuid?: string;
}

/**
 * The line is `Capacity <bytes> (<n> file blocks * <size>), <bytes> (<n> blocks) avail` on ESX 3.x and ESXi
 * (newer builds append `, max supported file size ...`); matched by its numbers, whatever the spacing.
 */
export function parseFsInfo(output: string, command: readonly string[]): VolumeSpace {
  const m = /Capacity\s+(\d+)\s*\([^)]*\)\s*,\s*(\d+)\s*\([^)]*\)\s*avail/i.exec(output);
  if (!m) throw unexpectedOutput(command, `no "Capacity <bytes> (...), <bytes> (...) avail" line; it printed ${JSON.stringify(output.trim().split('\n').slice(0, 4).join(' / '))}`);
  const space: VolumeSpace = { capacity: Number(m[1]), free: Number(m[2]) };
  const label = /^File system label \(if any\):\s*(.*)$/m.exec(output)?.[1]?.trim();
  if (label) space.label = label;
  const uuid = /^UUID:\s*([0-9a-f-]+)\s*$/im.exec(output)?.[1];
  if (uuid) space.uuid = uuid;
  return space;
}
