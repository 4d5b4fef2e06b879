// Builders of the descriptors ESX hosts and exports use: a VMFS base disk, a snapshot child, flat exports.

import { NO_PARENT_CID, TWO_GB_EXTENT_SECTORS, type VmdkDescriptor, type VmdkExtent } from './vmdk-model.js';

/** A fresh content ID: random 32 bits, never 0 nor the reserved values fffffff0..ffffffff. */
export function newCid(): number {
  for (;;) {
    const cid = crypto.getRandomValues(new Uint32Array(1))[0]!;
    if (cid !== 0 && cid < 0xfffffff0) return cid;
  }
}

function geometryDdb(sectors: number): Array<[string, string]> {
  const cylinders = Math.min(Math.max(1, Math.floor(sectors / (255 * 63))), 65535);
  return [
    ['ddb.geometry.cylinders', String(cylinders)],
    ['ddb.geometry.heads', '255'],
    ['ddb.geometry.sectors', '63'],
  ];
}

export interface BaseDescriptorOptions {
  capacitySectors: number;
  /** The flat extent's file name, e.g. "web01-flat.vmdk". */
  flatFileName: string;
  thin?: boolean;
  adapterType?: string;
  cid?: number;
  /** Space-separated hex bytes, as VMware writes ddb.uuid. */
  uuid?: string;
  virtualHWVersion?: string;
}

function baseDdb(options: BaseDescriptorOptions): Map<string, string> {
  const ddb = new Map<string, string>([['ddb.adapterType', options.adapterType ?? 'lsilogic']]);
  for (const [key, value] of geometryDdb(options.capacitySectors)) ddb.set(key, value);
  if (options.uuid !== undefined) ddb.set('ddb.uuid', options.uuid);
  ddb.set('ddb.virtualHWVersion', options.virtualHWVersion ?? '7');
  if (options.thin) ddb.set('ddb.thinProvisioned', '1');
  return ddb;
}

/** A VM's disk on a VMFS datastore: `createType="vmfs"`, one VMFS extent. */
export function buildBaseDescriptor(options: BaseDescriptorOptions): VmdkDescriptor {
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: NO_PARENT_CID,
    createType: 'vmfs',
    extraHeader: [],
    extents: [{ access: 'RW', sectors: options.capacitySectors, type: 'VMFS', fileName: options.flatFileName }],
    ddb: baseDdb(options),
  };
}

export interface SnapshotDescriptorOptions {
  capacitySectors: number;
  /** The delta's file name, e.g. "web01-000001-delta.vmdk" (COWD) or "web01-000001-sesparse.vmdk" (SEsparse). */
  deltaFileName: string;
  /** The delta's format: 'vmfsSparse' (COWD, the default) or 'seSparse' (SEsparse, VMFS6). */
  format?: 'vmfsSparse' | 'seSparse';
  /** The parent descriptor's file name, e.g. "web01.vmdk". */
  parentFileNameHint: string;
  parentCid: number;
  cid?: number;
  adapterType?: string;
}

/** A snapshot child on VMFS: `createType="vmfsSparse"` over a COWD delta, or `createType="seSparse"` over a SEsparse one. */
export function buildSnapshotDescriptor(options: SnapshotDescriptorOptions): VmdkDescriptor {
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: options.parentCid,
    createType: options.format ?? 'vmfsSparse',
    parentFileNameHint: options.parentFileNameHint,
    extraHeader: [],
    extents: [
      { access: 'RW', sectors: options.capacitySectors, type: options.format === 'seSparse' ? 'SESPARSE' : 'VMFSSPARSE', fileName: options.deltaFileName },
    ],
    ddb: new Map([['ddb.adapterType', options.adapterType ?? 'lsilogic']]),
  };
}

export interface ExportDescriptorOptions {
  capacitySectors: number;
  adapterType?: string;
  cid?: number;
}

/** An export as one flat file: `createType="monolithicFlat"`, `RW n FLAT "x-flat.vmdk" 0`. */
export function buildMonolithicFlatDescriptor(
  options: ExportDescriptorOptions & { flatFileName: string },
): VmdkDescriptor {
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: NO_PARENT_CID,
    createType: 'monolithicFlat',
    extraHeader: [],
    extents: [{ access: 'RW', sectors: options.capacitySectors, type: 'FLAT', fileName: options.flatFileName, offset: 0 }],
    ddb: new Map([['ddb.adapterType', options.adapterType ?? 'lsilogic'], ...geometryDdb(options.capacitySectors)]),
  };
}

/** File name of the n-th (1-based) extent of a split export: "web01.vmdk" -> "web01-f001.vmdk". */
export function splitExtentFileName(descriptorFileName: string, index: number): string {
  const stem = descriptorFileName.replace(/\.vmdk$/i, '');
  return `${stem}-f${String(index).padStart(3, '0')}.vmdk`;
}

/**
 * An export split into flat files of at most `extentSectors` each (default 2 GiB):
 * `createType="twoGbMaxExtentFlat"`. VMware's own tools cut at 2047 MiB (4192256 sectors);
 * any size is readable, so the limit is a parameter.
 */
export function buildTwoGbMaxExtentFlatDescriptor(
  options: ExportDescriptorOptions & { descriptorFileName: string; extentSectors?: number },
): VmdkDescriptor {
  const extentSectors = options.extentSectors ?? TWO_GB_EXTENT_SECTORS;
  const extents: VmdkExtent[] = [];
  for (let start = 0; start < options.capacitySectors; start += extentSectors) {
    extents.push({
      access: 'RW',
      sectors: Math.min(extentSectors, options.capacitySectors - start),
      type: 'FLAT',
      fileName: splitExtentFileName(options.descriptorFileName, extents.length + 1),
      offset: 0,
    });
  }
  return {
    version: 1,
    encoding: 'UTF-8',
    cid: options.cid ?? newCid(),
    parentCid: NO_PARENT_CID,
    createType: 'twoGbMaxExtentFlat',
    extraHeader: [],
    extents,
    ddb: new Map([['ddb.adapterType', options.adapterType ?? 'lsilogic'], ...geometryDdb(options.capacitySectors)]),
  };
}
