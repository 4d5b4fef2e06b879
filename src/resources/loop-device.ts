// A read-only loop device over one guest partition as a resource: released by detaching it, only while it still serves our disk file.

import { execa } from 'execa';
import { detachLoop } from '../mount/loop-device.js';
import { tool } from '../mount/proxy-support.js';
import { field, type ResourceType } from './types.js';

export interface LoopDeviceResource {
  /** /dev/loopN, once attached (journaled by an update). */
  device?: string;
  backingFile: string;
  offset: number;
}

export const loopDevice: ResourceType<LoopDeviceResource> = {
  kind: 'loop-device',
  needsHost: false,
  parse: (f) => ({
    ...(typeof f.device === 'string' ? { device: f.device } : {}),
    backingFile: field(f, 'backingFile', 'loop-device'),
    offset: typeof f.offset === 'number' ? f.offset : 0,
  }),
  async release(r) {
    // Killed between losetup and the journal's update: the device is found by its backing file and offset.
    const device = r.device ?? (await findLoop(r.backingFile, r.offset));
    if (!device) return 'absent';
    return detachLoop(device, r.backingFile);
  },
};

async function findLoop(backingFile: string, offset: number): Promise<string | undefined> {
  const r = await execa(tool('losetup'), ['--list', '--json', '--output', 'NAME,BACK-FILE,OFFSET'], { reject: false });
  if (r.exitCode !== 0 || !r.stdout.trim()) return undefined;
  const devices = (JSON.parse(r.stdout) as { loopdevices?: Array<{ name: string; 'back-file'?: string; offset?: number | string }> }).loopdevices ?? [];
  return devices.find((d) => d['back-file']?.replace(/ \(deleted\)$/, '') === backingFile && Number(d.offset) === offset)?.name;
}
