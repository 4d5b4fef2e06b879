// The per-VM lock file as a resource: released by removing it, only while it still names the run that took it.

import { existsSync } from 'node:fs';
import { releaseVmLock } from '../engine/index.js';
import { field, type ResourceType } from './types.js';

export interface VmLockResource {
  stateDir: string;
  host: string;
  vm: string;
  runId: string;
}

export const vmLock: ResourceType<VmLockResource> = {
  kind: 'vm-lock',
  needsHost: false,
  parse: (f) => ({ stateDir: field(f, 'stateDir', 'vm-lock'), host: field(f, 'host', 'vm-lock'), vm: field(f, 'vm', 'vm-lock'), runId: field(f, 'runId', 'vm-lock') }),
  async release(r) {
    if (!existsSync(r.stateDir)) return 'absent';
    return releaseVmLock(r.stateDir, r.host, r.vm, r.runId) ? 'released' : 'absent';
  },
};
