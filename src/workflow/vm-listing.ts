// Every VM of a host with the facts selections and listings use: name, moref, BIOS uuid, power, IP, datastore.

import type { EsxHost, PowerState, VmRef } from '../esx/index.js';
import { parseBracketPath, splitVmfsPath } from '../esx/datastore-path.js';
import { listVmxDisks } from '../esx/parse/vmx-disks.js';
import { parseVmx } from '../esx/parse/vmx.js';

export interface VmListing {
  ref: VmRef;
  name: string;
  /** vcbMounter's moref: the vmid on ESXi, the .vmx path on ESX 3.x. */
  moref: string;
  uuid?: string;
  power: PowerState;
  ip?: string;
  /** The datastore holding the VM's .vmx (its name where the host prints one, else the volume uuid). */
  datastore: string;
  /**
   * Only with `listVmDetails(esx, { datastores: true })`: the .vmx's datastore first, then each other datastore
   * a present disk of the .vmx lives on (in disk order; as the .vmx names it, so a uuid on hosts that print one).
   * It comes from the .vmx alone: the deltas of snapshots on another datastore (workingDir) are not counted.
   */
  datastores?: string[];
}

export interface ListVmOptions {
  /** Also read each VM's .vmx (one `cat` per VM) for the datastores of its disks. */
  datastores?: boolean;
}

/** The datastore a VM's files live on, from its bracket path, else from its /vmfs/volumes path. */
export function datastoreOf(ref: VmRef): string {
  if (ref.bracketPath) return parseBracketPath(ref.bracketPath).datastore;
  return splitVmfsPath(ref.vmxPath)?.datastore ?? '';
}

/** The .vmx's datastore and those its disks are on; a disk path outside /vmfs/volumes (a bad .vmx) is left out. */
async function datastoresOf(esx: EsxHost, ref: VmRef): Promise<string[]> {
  const found = [datastoreOf(ref)];
  for (const disk of listVmxDisks(parseVmx(await esx.readFile(ref.vmxPath)), ref.vmxPath)) {
    const ds = splitVmfsPath(disk.path)?.datastore;
    if (ds !== undefined && !found.includes(ds)) found.push(ds);
  }
  return found;
}

/** One listing plus one info call per VM (and one .vmx read with `datastores`): read-only, safe to retry. */
export async function listVmDetails(esx: EsxHost, options: ListVmOptions = {}): Promise<VmListing[]> {
  const out: VmListing[] = [];
  for (const ref of await esx.listVms()) {
    const info = await esx.getVmInfo(ref);
    out.push({
      ref,
      name: ref.name,
      moref: ref.id,
      ...(info.biosUuid ? { uuid: info.biosUuid } : {}),
      power: info.powerState,
      ...(info.ipAddress ? { ip: info.ipAddress } : {}),
      datastore: datastoreOf(ref),
      ...(options.datastores ? { datastores: await datastoresOf(esx, ref) } : {}),
    });
  }
  return out;
}
