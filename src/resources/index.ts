// The one registry of release functions by resource kind: the live unwind, cleanup, recovery and -U all release through it.

import { VcbError } from '../errors.js';
import type { ReleaseOutcome, UndoSpec } from '../engine/index.js';
import { exportDir } from './export-dir.js';
import { partialDir } from './partial-dir.js';
import { replacedDir } from './replaced-dir.js';
import { snapshot } from './snapshot.js';
import { vmLock } from './vm-lock.js';
import { mountDir } from './mount-dir.js';
import { diskServer } from './disk-server.js';
import { fuseDisk } from './fuse-disk.js';
import { loopDevice } from './loop-device.js';
import { volumeMount } from './volume-mount.js';
import { poweredOffVm } from './powered-off-vm.js';
import { restoreDir } from './restore-dir.js';
import { registeredVm } from './registered-vm.js';
import { replacedVm } from './replaced-vm.js';
import type { ReleaseEnv, ResourceKind, ResourceType } from './types.js';

export type { ReleaseEnv, ResourceKind } from './types.js';
export { snapshotDescription, settleTime, type SnapshotResource } from './snapshot.js';
export type { VmLockResource } from './vm-lock.js';
export type { ReplacedDirResource } from './replaced-dir.js';
export type { ExportDirResource } from './export-dir.js';
export type { PartialDirResource } from './partial-dir.js';
export type { PoweredOffVmResource } from './powered-off-vm.js';

const TYPES: { [K in ResourceKind]: ResourceType<never> } = {
  'vm-lock': vmLock as ResourceType<never>,
  snapshot: snapshot as ResourceType<never>,
  'partial-dir': partialDir as ResourceType<never>,
  'replaced-dir': replacedDir as ResourceType<never>,
  'export-dir': exportDir as ResourceType<never>,
  'mount-dir': mountDir as ResourceType<never>,
  'disk-server': diskServer as ResourceType<never>,
  'fuse-disk': fuseDisk as ResourceType<never>,
  'loop-device': loopDevice as ResourceType<never>,
  'volume-mount': volumeMount as ResourceType<never>,
  'powered-off-vm': poweredOffVm as ResourceType<never>,
  'restore-dir': restoreDir as ResourceType<never>,
  'registered-vm': registeredVm as ResourceType<never>,
  'replaced-vm': replacedVm as ResourceType<never>,
};

export function isResourceKind(kind: string): kind is ResourceKind {
  return Object.hasOwn(TYPES, kind);
}

/** Whether releasing this kind talks to the ESX host. */
export function needsHost(kind: string): boolean {
  return isResourceKind(kind) && TYPES[kind].needsHost;
}

/** Releases one resource as recorded (journal or state file) with the release function of its kind. */
export async function releaseResource(kind: string, fields: Record<string, unknown>, env: ReleaseEnv): Promise<ReleaseOutcome> {
  if (!isResourceKind(kind)) throw new VcbError('CLEANUP', `unknown resource kind ${JSON.stringify(kind)} (recorded by another version of vcbmounter?): release it by hand`);
  const type = TYPES[kind] as ResourceType<unknown>;
  return type.release(type.parse(fields), env);
}

/** The undo-stack entry for a resource: its release is the registry's, with the engine's per-release bound and signal. */
export function releasable(kind: ResourceKind, description: string, resource: Record<string, unknown>, env: Omit<ReleaseEnv, 'signal' | 'deadline'>): UndoSpec {
  return {
    kind,
    description,
    resource,
    // `resource` is the entry's own object: what update() recorded since the acquire is read at release time.
    release: (ctx) => releaseResource(kind, resource, { ...env, signal: ctx.signal, deadline: ctx.deadline }),
  };
}
