// Reverting a simulated VM to one of its snapshots: the running state is dropped and a new delta goes on the snapshot's layer.

import { posix } from 'node:path';
import { createDeltaLink, deltaFormatFor, undoFileChanges, type SnapshotTarget } from './snapshot-create.js';
import { doomLayer } from './snapshot-remove.js';
import { keptLayers } from './snapshot-tree.js';
import { UndoJournal } from './undo-journal.js';
import { diskSlot } from './vm-files.js';
import { HostFault } from './vm-state.js';
import { formatVmsd, hostdWritesVmsd } from './vmsd-file.js';

/**
 * As hostd's RevertToSnapshot: every disk's running delta that no snapshot keeps is deleted, a new delta is put
 * on the layer the snapshot keeps, and the snapshot becomes the current one (the parent of the next snapshot),
 * however many snapshots are newer. The caller powers the VM off first and on afterwards as the snapshot says.
 * On failure nothing changes.
 */
export function revertToSnapshot(vm: SnapshotTarget, uid: number): void {
  const snap = vm.state.snapshots.find((s) => s.uid === uid);
  if (!snap) throw new HostFault('vim.fault.NotFound', `The object or item referred to could not be found. (snapshot ${uid})`, -1);
  const cfg = vm.config();
  const journal = new UndoJournal(vm.vfs);
  const created: string[] = [];
  const doomed: string[] = [];
  const n = vm.state.nextDelta;
  const children = [...snap.children];
  try {
    vm.spec.disks.forEach((disk, i) => {
      const kept = snap.disks?.[i];
      if (!kept) return;
      const top = vm.diskPath(i);
      if (!keptLayers(vm.state.snapshots, i).has(top) && top !== kept) doomLayer(vm, top, doomed);
      const link = createDeltaLink(vm, i, disk.size, kept, n, created, deltaFormatFor(vm.vmfsVersion, disk.size));
      cfg.set(`${diskSlot(disk, i)}.fileName`, posix.basename(link));
      if (doomed.includes(children[i]!)) children[i] = link;
    });
    journal.rewrite(vm.state.vmxPath, cfg.format());
    if (hostdWritesVmsd(vm.spec)) journal.rewrite(`${vm.dir}/${vm.fileBase}.vmsd`, formatVmsd(vm.state.snapshots, vm.state.lastUid, vm.fileBase, vm.spec, uid));
  } catch (e) {
    undoFileChanges(vm, journal, created);
    throw new HostFault('vim.fault.FileFault', `An error occurred while reverting to a snapshot: ${(e as Error).message}`, -1);
  }
  journal.keep();
  for (const p of doomed) {
    try {
      vm.vfs.remove(p);
    } catch {
      /* already gone */
    }
  }
  snap.children = children;
  vm.state.nextDelta = n + 1;
  vm.state.current = uid;
  vm.dropChains();
  vm.persist();
  vm.guest.marker('snapshot.reverted', { name: snap.name, uid });
}
