// What the restore resources' releases share: the host session a release may use, and finding a VM by its .vmx.

import { VcbError } from '../errors.js';
import type { EsxHost, HostSession, VmRef } from '../esx/index.js';
import type { ReleaseEnv } from './types.js';

export async function hostFor(env: ReleaseEnv, what: string): Promise<EsxHost> {
  if (!env.host) throw new VcbError('CLEANUP', `${what} needs the host: run \`vcbmounter cleanup -h HOST ...\``);
  const session: HostSession = await env.host();
  return session.esx;
}

/**
 * The registered VM whose .vmx is `vmxPath` (`/vmfs/volumes/<datastore>/<folder>/<file>.vmx`), by the vmid a
 * register printed when known, else by its `[datastore] folder/file` path (vim-cmd), else by its path with the
 * datastore named either way (vmware-cmd lists the volume uuid form).
 */
export async function findRegistered(esx: EsxHost, vmxPath: string, id?: string): Promise<VmRef | undefined> {
  const vms = await esx.listVms();
  if (id !== undefined) {
    const byId = vms.find((v) => v.id === id);
    if (byId) return byId;
  }
  const m = /^\/vmfs\/volumes\/([^/]+)\/(.+)$/.exec(vmxPath);
  const bracket = m ? `[${m[1]}] ${m[2]}` : undefined;
  return vms.find((v) => v.vmxPath === vmxPath || (bracket !== undefined && v.bracketPath === bracket)) ?? (await byVolumeUuid(esx, vms, m?.[1], m?.[2]));
}

/** vmware-cmd lists paths by volume uuid: the datastore's uuid, from `vmkfstools -P`, gives the same path in that form. */
async function byVolumeUuid(esx: EsxHost, vms: VmRef[], datastore?: string, rest?: string): Promise<VmRef | undefined> {
  if (datastore === undefined || rest === undefined || !vms.some((v) => !v.bracketPath)) return undefined;
  const uuid = (await esx.volumeSpace(`/vmfs/volumes/${datastore}`)).uuid;
  return uuid === undefined ? undefined : vms.find((v) => v.vmxPath === `/vmfs/volumes/${uuid}/${rest}`);
}

/** The `settleBy` field of a restore resource (see changeHost in the restore steps), when one is set. */
export function settledBy(f: Record<string, unknown>, kind: string): { settleBy?: number } {
  if (f.settleBy === undefined || f.settleBy === 0) return {};
  const settleBy = Number(f.settleBy);
  if (!Number.isFinite(settleBy)) throw new Error(`${kind} resource: field settleBy is not a number`);
  return { settleBy };
}

/**
 * Before `settleBy`, a change the host never answered may still happen: what the release sees is not final, so
 * it stays held (exit 8, and `vcbmounter cleanup` says it is still waiting) rather than report it released.
 */
export function stillSettling(settleBy: number | undefined, what: string, then: string): void {
  if (settleBy === undefined || Date.now() >= settleBy) return;
  throw new VcbError('SETTLING', `still waiting: ${what} until ${new Date(settleBy).toISOString()} (cleanup after that time ${then})`);
}
