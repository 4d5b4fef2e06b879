// Which local device holds each LVM extent of a VMFS volume, and where on it the volume's partition starts.
//
// `--lun KEY[:N]=PATH[@OFFSET]`: KEY is the LVID or the volume uuid `vmkfstools -t0` prints, N the LVM extent (the
// LUN, for a datastore spanning several; default 1), OFFSET the byte where the VMFS partition starts on PATH. Without
// OFFSET, a PATH that starts with a partition table (a whole LUN) is read for its one VMFS partition; a PATH without
// one (a partition device, an image of the volume) is read from byte 0.

import { open } from 'node:fs/promises';
import { VcbError } from '../errors.js';
import { isVmfsPartition, readPartitionTable, TABLE_BYTES } from '../formats/partition-table.js';
import type { DiskExtent } from './types.js';

/** `--lun` values by their key (`LVID`, `LVID:2`, `uuid`, ...): a path, optionally `@offset`. */
export type LunMap = Readonly<Record<string, string>>;

export interface LunPlace {
  path: string;
  /** Byte on `path` where the VMFS partition (LVM extent) starts. */
  partitionOffset: number;
  /** How the offset was found, for the log. */
  how: 'given' | 'partition table' | 'no partition table';
}

export class LunLocator {
  private readonly places = new Map<string, Promise<LunPlace>>();

  constructor(
    private readonly lunMap: LunMap,
    private readonly lunFlag = '--lun',
  ) {}

  /** The device and partition offset of the LVM extent an extent of a disk lies on; a USAGE error saying what to map when unknown. */
  place(extent: DiskExtent): Promise<LunPlace> {
    const number = extent.lvmExtent ?? 1;
    const keys = [extent.lvid, extent.volumeUuid].filter((k): k is string => k !== undefined);
    for (const key of keys) {
      const value = this.lunMap[`${key}:${number}`] ?? (number === 1 ? this.lunMap[key] : undefined);
      if (value === undefined) continue;
      const id = `${key}:${number}`;
      let place = this.places.get(id);
      if (!place) {
        place = this.resolve(value, id);
        this.places.set(id, place);
      }
      return place;
    }
    const lvid = extent.lvid ?? extent.volumeUuid ?? '<lvid>';
    const spanned = number > 1 && keys.some((key) => this.lunMap[key] !== undefined || this.lunMap[`${key}:1`] !== undefined);
    return Promise.reject(
      new VcbError(
        'USAGE',
        spanned
          ? `san mode: the datastore of LVID ${lvid} spans several LUNs and no LUN was given for its extent ${number}; ` +
              `map it with ${this.lunFlag} ${lvid}:${number}=<device>`
          : `san mode: no LUN given for LVID ${extent.lvid ?? '?'} (volume ${extent.volumeUuid ?? '?'})` +
              `${number > 1 ? `, extent ${number}` : ''}; map it with ${this.lunFlag} ${lvid}${number > 1 ? `:${number}` : ''}=<device or image path>`,
      ),
    );
  }

  private async resolve(value: string, id: string): Promise<LunPlace> {
    const at = value.lastIndexOf('@');
    if (at > 0 && /^\d+$/.test(value.slice(at + 1))) {
      return { path: value.slice(0, at), partitionOffset: Number(value.slice(at + 1)), how: 'given' };
    }
    const head = Buffer.alloc(TABLE_BYTES);
    let got = 0;
    try {
      const handle = await open(value, 'r');
      try {
        ({ bytesRead: got } = await handle.read(head, 0, TABLE_BYTES, 0));
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw new VcbError('USAGE', `${this.lunFlag} ${id}=${value}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, {}, { cause: error });
    }
    let table;
    try {
      table = readPartitionTable(head.subarray(0, got));
    } catch (error) {
      throw new VcbError('USAGE', `${this.lunFlag} ${id}=${value}: its partition table is damaged (${(error as Error).message}); give the partition device or ${value}@<offset in bytes>`);
    }
    if (table.kind === 'none') return { path: value, partitionOffset: 0, how: 'no partition table' };
    const vmfs = table.partitions.filter(isVmfsPartition);
    if (vmfs.length !== 1) {
      const found = table.partitions.map((p) => `${p.number} at ${p.start} (type ${p.type})`).join(', ') || 'none';
      throw new VcbError(
        'USAGE',
        `${this.lunFlag} ${id}=${value}: its ${table.kind.toUpperCase()} partition table holds ${vmfs.length} VMFS partitions ` +
          `(partitions: ${found}); give the partition device or ${value}@<offset in bytes>`,
      );
    }
    return { path: value, partitionOffset: vmfs[0]!.start, how: 'partition table' };
  }
}
