// The LUNs under one datastore as a SAN presents them: each with a partition table and the VMFS volume in a
// partition, and a volume that may span two LUNs (LVM extents 1 and 2). Reads and writes address the volume.

import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { gptWithVmfs, mbrWithVmfs } from '../../formats/partition-table.js';
import { LunImage } from './lun-image.js';

export type PartitionTableKind = 'none' | 'mbr' | 'gpt';

export interface LunLayout {
  /** 'mbr': VMFS partition from sector 128 (ESX 3.x); 'gpt': from sector 2048 (ESXi 5 and later); 'none': the volume at byte 0. */
  partitionTable: PartitionTableKind;
  /** Volume bytes on each LUN, in LVM extent order; one entry: a volume on one LUN. */
  extentBytes: number[];
}

/** Where the VMFS partition starts on a LUN with this table. */
export function partitionOffsetFor(kind: PartitionTableKind): number {
  return kind === 'mbr' ? 128 * 512 : kind === 'gpt' ? 2048 * 512 : 0;
}

/** One extent's place: which LUN image, and where on it the extent's first volume byte lies. */
export interface ExtentPlace {
  /** LVM extent number, from 1. */
  number: number;
  path: string;
  /** Byte offset of the VMFS partition on the LUN. */
  partitionOffset: number;
  /** First volume byte on this extent, and how many. */
  volumeStart: number;
  bytes: number;
}

export class LunDevices {
  readonly extents: ExtentPlace[];
  private readonly images: LunImage[];

  /** Opens the images at `paths` (one per extent), creating them with their tables when `create`. */
  constructor(paths: string[], layout: LunLayout, create: boolean) {
    if (paths.length !== layout.extentBytes.length) throw new Error('one LUN image per extent');
    const partitionOffset = partitionOffsetFor(layout.partitionTable);
    let volumeStart = 0;
    this.extents = layout.extentBytes.map((bytes, i) => {
      const place = { number: i + 1, path: paths[i]!, partitionOffset, volumeStart, bytes };
      volumeStart += bytes;
      return place;
    });
    this.images = this.extents.map((e) => {
      const lunBytes = lunSize(e.partitionOffset, e.bytes, layout.partitionTable);
      if (!create && existsSync(e.path)) return LunImage.open(e.path);
      const image = LunImage.create(e.path, lunBytes);
      if (layout.partitionTable === 'mbr') image.write(mbrWithVmfs(e.partitionOffset, e.bytes), 0);
      if (layout.partitionTable === 'gpt') image.write(gptWithVmfs(e.partitionOffset, e.bytes, lunBytes, randomUUID(), randomUUID()), 0);
      return image;
    });
  }

  /** The extent holding a volume byte, and the byte's offset within that extent. */
  locate(volumeOffset: number): { extent: ExtentPlace; offset: number } {
    for (const extent of this.extents) {
      if (volumeOffset < extent.volumeStart + extent.bytes) return { extent, offset: volumeOffset - extent.volumeStart };
    }
    throw new Error(`volume offset ${volumeOffset} lies past the volume's last extent`);
  }

  read(buf: Uint8Array, offset: number, length: number, volumePosition: number): void {
    let done = 0;
    while (done < length) {
      const { extent, offset: inExtent } = this.locate(volumePosition + done);
      const n = Math.min(length - done, extent.bytes - inExtent);
      this.images[extent.number - 1]!.read(buf, offset + done, n, extent.partitionOffset + inExtent);
      done += n;
    }
  }

  write(data: Uint8Array, volumePosition: number): void {
    let done = 0;
    while (done < data.length) {
      const { extent, offset: inExtent } = this.locate(volumePosition + done);
      const n = Math.min(data.length - done, extent.bytes - inExtent);
      this.images[extent.number - 1]!.write(data.subarray(done, done + n), extent.partitionOffset + inExtent);
      done += n;
    }
  }

  close(): void {
    for (const image of this.images) image.close();
  }
}

/** A LUN's size: the partition, and room behind it for a GPT's backup copy (33 sectors), rounded to 1 MiB. */
function lunSize(partitionOffset: number, bytes: number, table: PartitionTableKind): number {
  const MiB = 1024 * 1024;
  if (table === 'none') return bytes;
  return Math.ceil((partitionOffset + bytes + 33 * 512) / MiB) * MiB;
}
