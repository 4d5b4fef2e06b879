// Lists a VM's virtual disks from its .vmx and classifies independent and raw-device-mapped (RDM) ones.

import { resolveAgainstVmx } from '../datastore-path.js';
import type { VmxConfig } from './vmx.js';

export type DiskBus = 'scsi' | 'ide' | 'sata' | 'nvme';

export interface VmxDisk {
  /** e.g. `scsi0:1`, as spelled in the .vmx. */
  device: string;
  bus: DiskBus;
  controller: number;
  unit: number;
  /** The fileName value as written (often relative to the .vmx). */
  fileName: string;
  /** Absolute /vmfs/volumes path of the descriptor. */
  path: string;
  mode?: string;
  deviceType?: string;
  /** independent-persistent / independent-nonpersistent: snapshots do not cover it. */
  independent: boolean;
  /** From deviceType alone; a descriptor may still say RDM (see rdmFromDescriptor). */
  rdm: boolean;
}

const DEVICE_KEY = /^(scsi|ide|sata|nvme)(\d+):(\d+)\.filename$/;
const RDM_DEVICE_TYPES = new Set(['scsi-passthru', 'rawdisk']);

/** Disks in controller order; entries with `.present = "FALSE"`, CD-ROMs and non-.vmdk files are left out. */
export function listVmxDisks(vmx: VmxConfig, vmxPath: string): VmxDisk[] {
  const disks: VmxDisk[] = [];
  for (const entry of vmx.matching(DEVICE_KEY)) {
    const m = DEVICE_KEY.exec(entry.key.toLowerCase())!;
    const device = entry.key.slice(0, entry.key.length - '.fileName'.length);
    const present = vmx.get(`${device}.present`);
    const deviceType = vmx.get(`${device}.deviceType`);
    const mode = vmx.get(`${device}.mode`);
    if (present !== undefined && present.toLowerCase() !== 'true') continue;
    if (deviceType?.toLowerCase().includes('cdrom')) continue;
    if (!entry.value.toLowerCase().endsWith('.vmdk')) continue;
    const disk: VmxDisk = {
      device,
      bus: m[1] as DiskBus,
      controller: Number(m[2]),
      unit: Number(m[3]),
      fileName: entry.value,
      path: resolveAgainstVmx(vmxPath, entry.value),
      independent: mode?.toLowerCase().startsWith('independent') ?? false,
      rdm: deviceType !== undefined && RDM_DEVICE_TYPES.has(deviceType.toLowerCase()),
    };
    if (mode !== undefined) disk.mode = mode;
    if (deviceType !== undefined) disk.deviceType = deviceType;
    disks.push(disk);
  }
  const busOrder: DiskBus[] = ['scsi', 'sata', 'nvme', 'ide'];
  return disks.sort(
    (a, b) => busOrder.indexOf(a.bus) - busOrder.indexOf(b.bus) || a.controller - b.controller || a.unit - b.unit,
  );
}

/** `createType` of a text disk descriptor, or undefined when it has none. */
export function descriptorCreateType(descriptor: string): string | undefined {
  return /^\s*createType\s*=\s*"?([^"\s]+)"?\s*$/im.exec(descriptor)?.[1];
}

/** physical / virtual compatibility RDM from a descriptor's createType; undefined for ordinary disks. */
export function rdmFromDescriptor(descriptor: string): 'physical' | 'virtual' | undefined {
  const type = descriptorCreateType(descriptor)?.toLowerCase();
  if (type === 'vmfspassthroughrawdevicemap') return 'physical';
  if (type === 'vmfsrawdevicemap') return 'virtual';
  return undefined;
}
