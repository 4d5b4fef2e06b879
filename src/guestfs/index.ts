// purpose: public surface of the guest-disk inspection (what volumes and file systems a virtual disk holds).

export { findVolumes, type GuestDisk, type GuestVolume } from './volumes.js';
export { probeFileSystem, type FsProbe, type FsType } from './probe.js';
export type { ReadAt } from '../formats/partition-table.js';
