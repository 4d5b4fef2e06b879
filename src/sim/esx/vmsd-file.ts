// The .vmsd file of a simulated VM: the snapshot tree as VMware writes it, with parent links and the current snapshot.

import { posix } from 'node:path';
import type { VmSpec } from '../inventory.js';
import { diskSlot, diskStem } from './vm-files.js';
import type { SnapshotRecord } from './vm-state.js';
import { ConfigFile } from './vmx-file.js';

/** Whether hostd writes this VM's .vmsd (the inventory's `vmsd`; host states saved before it existed mean 'current'). */
export function hostdWritesVmsd(spec: VmSpec): boolean {
  return spec.vmsd === undefined || spec.vmsd === 'current';
}

/**
 * The .vmsd as hostd writes it: every snapshot with its parent's uid (roots have none), the disk files it keeps,
 * and `snapshot.current`, the snapshot the VM runs from (not the newest after a revert). `current` defaults to
 * what the records say (the newest in states saved before trees).
 */
export function formatVmsd(snaps: readonly SnapshotRecord[], lastUid: number, fileBase: string, spec: VmSpec, current?: number): string {
  const v = new ConfigFile();
  v.set('.encoding', 'UTF-8');
  if (snaps.length) {
    v.set('snapshot.lastUID', String(lastUid));
    v.set('snapshot.current', String(current ?? snaps[snaps.length - 1]!.uid));
  }
  snaps.forEach((s, i) => {
    const p = `snapshot${i}`;
    v.set(`${p}.uid`, String(s.uid));
    v.set(`${p}.filename`, posix.basename(s.vmsn));
    const parent = s.parent === undefined ? snaps[i - 1]?.uid : s.parent || undefined;
    if (parent !== undefined) v.set(`${p}.parent`, String(parent));
    v.set(`${p}.displayName`, s.name);
    v.set(`${p}.description`, s.description);
    v.set(`${p}.createTimeHigh`, String(Math.floor((s.createdAt * 1000) / 2 ** 32)));
    v.set(`${p}.createTimeLow`, String((s.createdAt * 1000) % 2 ** 32));
    const disks = s.children.map((c, d) => ({ c, d })).filter((x) => x.c);
    v.set(`${p}.numDisks`, String(disks.length));
    disks.forEach(({ d }, j) => {
      const kept = s.disks?.[d] || (i === 0 ? `${diskStem(fileBase, d)}.vmdk` : snaps[i - 1]!.children[d] || `${diskStem(fileBase, d)}.vmdk`);
      v.set(`${p}.disk${j}.fileName`, posix.basename(kept));
      v.set(`${p}.disk${j}.node`, diskSlot(spec.disks[d]!, d));
    });
  });
  v.set('snapshot.numSnapshots', String(snaps.length));
  return v.format();
}
