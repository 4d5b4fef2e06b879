// The VMDK descriptor as data: its fields, extent kinds, sector constants and capacity.

export const SECTOR_SIZE = 512;
/** parentCID of a disk that has no parent. */
export const NO_PARENT_CID = 0xffffffff;
/** 2 GiB in sectors: the default size of each extent in a twoGbMaxExtentFlat export. */
export const TWO_GB_EXTENT_SECTORS = 4194304;

/** createType values ESX hosts and exports use; parseDescriptor accepts any string. */
export type KnownCreateType =
  | 'vmfs'
  | 'vmfsThin'
  | 'vmfsSparse'
  | 'vmfsRDM'
  | 'vmfsPassthroughRawDeviceMap'
  | 'seSparse'
  | 'monolithicFlat'
  | 'monolithicSparse'
  | 'twoGbMaxExtentFlat'
  | 'twoGbMaxExtentSparse'
  | 'streamOptimized';

export type ExtentAccess = 'RW' | 'RDONLY' | 'NOACCESS';
export type ExtentType =
  | 'FLAT'
  | 'SPARSE'
  | 'ZERO'
  | 'VMFS'
  | 'VMFSSPARSE'
  | 'VMFSRDM'
  | 'VMFSRAW'
  | 'SESPARSE';

export interface VmdkExtent {
  access: ExtentAccess;
  sectors: number;
  type: ExtentType;
  /** Absent only for ZERO extents. Relative to the descriptor's directory unless absolute. */
  fileName?: string;
  /** Start of the extent inside its file, in sectors (FLAT extents). */
  offset?: number;
}

export interface HeaderEntry {
  key: string;
  value: string;
  quoted: boolean;
}

export interface VmdkDescriptor {
  version: number;
  encoding?: string;
  cid: number;
  parentCid: number;
  createType: KnownCreateType | (string & {});
  parentFileNameHint?: string;
  /** Other header settings (e.g. isNativeSnapshot), kept in their order. */
  extraHeader: HeaderEntry[];
  extents: VmdkExtent[];
  /** The Disk Data Base: `ddb.*` keys (with the prefix) in file order. */
  ddb: Map<string, string>;
}

export function capacitySectors(descriptor: VmdkDescriptor): number {
  return descriptor.extents.reduce((sum, extent) => sum + extent.sectors, 0);
}

export function capacityBytes(descriptor: VmdkDescriptor): number {
  return capacitySectors(descriptor) * SECTOR_SIZE;
}
