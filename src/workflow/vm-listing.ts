// Every VM of a host with the facts selections and listings use: name, moref, BIOS uuid, power, IP, datastore.

import type { EsxHost, PowerState, VmRef } from '../esx/index.js';
import { parseBracketPath, splitVmfsPath } from '../esx/datastore-path.js';

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
}

/** The datastore a VM's files live on, from its bracket path, else from its /vmfs/volumes path. */
export function datastoreOf(ref: VmRef): string {
  if (ref.bracketPath) return parseBracketPath(ref.bracketPath).datastore;
  return splitVmfsPath(ref.vmxPath)?.datastore ?? '';
}

/** One listing plus one info call per VM: read-only, safe to retry. */
export async function listVmDetails(esx: EsxHost): Promise<VmListing[]> {
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
    });
  }
  return out;
}
