// ESXi's "consolidation needed": a snapshot removal that left the VM running on deltas no snapshot keeps, and the consolidate that merges them.

import { posix } from 'node:path';
import { openChainFromDescriptor } from '../../formats/chain.js';
import type { ConsolidationTarget } from './snapshot-remove.js';
import { doomLayer } from './snapshot-remove.js';
import { childLayers, currentSnapshot, keptLayers, layerEdges, unlinkSnapshot } from './snapshot-tree.js';
import { UndoJournal } from './undo-journal.js';
import { diskSlot } from './vm-files.js';
import { HostFault, type SnapshotRecord } from './vm-state.js';
import { formatVmsd, hostdWritesVmsd } from './vmsd-file.js';

/** Where a disk's running top sits on a layer no snapshot keeps (and nothing else reads): those two can be merged. */
function redundantLink(vm: ConsolidationTarget, top: string, i: number): { top: string; below: string } | undefined {
  const edges = layerEdges(vm.vfs, top, vm.state.snapshots, i);
  const below = edges.get(top);
  if (below === undefined) return undefined;
  if (keptLayers(vm.state.snapshots, i).has(below)) return undefined;
  if (childLayers(edges, below).length !== 1) return undefined;
  return { top, below };
}

function topOf(vm: ConsolidationTarget, i: number): string {
  const file = vm.config().get(`${diskSlot(vm.spec.disks[i]!, i)}.fileName`) ?? '';
  return posix.isAbsolute(file) ? file : `${vm.dir}/${file}`;
}

/** What `get.summary` reports as runtime.consolidationNeeded: some disk runs on a delta that can be merged down. */
export function consolidationNeeded(vm: ConsolidationTarget): boolean {
  return vm.spec.disks.some((_, i) => redundantLink(vm, topOf(vm, i), i) !== undefined);
}

/**
 * A removal as ESXi 5+ does it when the disks cannot be consolidated: the snapshots leave the tree (and the
 * .vmsd), their .vmsn files go, but every delta stays and the VM keeps running on it; consolidationNeeded is
 * then true until a consolidate succeeds.
 */
export function removeWithoutConsolidating(vm: ConsolidationTarget, uids: readonly number[]): SnapshotRecord[] {
  const removed: SnapshotRecord[] = [];
  for (const uid of uids) {
    const snap = vm.state.snapshots.find((s) => s.uid === uid);
    if (!snap) throw new HostFault('vim.fault.NotFound', `The object or item referred to could not be found. (snapshot ${uid})`, -1);
  }
  for (const uid of uids) {
    const snap = vm.state.snapshots.find((s) => s.uid === uid)!;
    unlinkSnapshot(vm.state, snap);
    try {
      vm.vfs.remove(snap.vmsn);
    } catch {
      /* already gone */
    }
    removed.push(snap);
  }
  if (hostdWritesVmsd(vm.spec)) {
    vm.vfs.writeFile(`${vm.dir}/${vm.fileBase}.vmsd`, formatVmsd(vm.state.snapshots, vm.state.lastUid, vm.fileBase, vm.spec, currentSnapshot(vm.state)));
  }
  return removed;
}

/**
 * `vim-cmd vmsvc/snapshot.consolidate`: on every disk, while the running top sits on a layer no snapshot keeps,
 * the top is committed into it and the .vmx pointed at it. One change, kept whole or undone. Returns how many
 * links it merged.
 */
export function consolidateDisks(vm: ConsolidationTarget): number {
  const cfg = vm.config();
  const journal = new UndoJournal(vm.vfs);
  const doomed: string[] = [];
  let merged = 0;
  try {
    vm.spec.disks.forEach((disk, i) => {
      let top = topOf(vm, i);
      for (let link = redundantLink(vm, top, i); link; link = redundantLink(vm, top, i)) {
        const chain = openChainFromDescriptor(link.top, (p) => journal.open(p));
        try {
          chain.commitTop();
        } finally {
          chain.close();
        }
        doomLayer(vm, link.top, doomed);
        // The next round must see the merged layer as the top, so the .vmx is rewritten as it goes.
        cfg.set(`${diskSlot(disk, i)}.fileName`, posix.basename(link.below));
        journal.rewrite(vm.state.vmxPath, cfg.format());
        top = link.below;
        merged++;
      }
    });
  } catch (e) {
    journal.undo();
    const full = (e as { code?: string }).code === 'ENOSPC';
    throw new HostFault(full ? 'vim.fault.NoDiskSpace' : 'vim.fault.FileFault', `An error occurred while consolidating disks: ${full ? 'Insufficient disk space on datastore.' : (e as Error).message}`, -1);
  }
  journal.keep();
  for (const p of doomed) {
    try {
      vm.vfs.remove(p);
    } catch {
      /* already gone */
    }
  }
  return merged;
}
