// A mounted guest volume (or its bind mount under letters/ or names/) as a resource: released by unmounting it, lazily when busy.

import { unmountVolume } from '../mount/volume-mount.js';
import { field, type ResourceType } from './types.js';

export interface VolumeMountResource {
  mountPoint: string;
}

export const volumeMount: ResourceType<VolumeMountResource> = {
  kind: 'volume-mount',
  needsHost: false,
  parse: (f) => ({ mountPoint: field(f, 'mountPoint', 'volume-mount') }),
  async release(r, env) {
    const outcome = await unmountVolume(r.mountPoint);
    if (outcome !== 'lazy') return outcome;
    const warning = `${r.mountPoint} was still in use by a program: it is detached now and the kernel finishes unmounting it when that program closes its files (find it with: fuser -vm ${r.mountPoint})`;
    env.log.warn(warning);
    env.warn?.(warning);
    return 'released';
  },
};
