// Snapshot removal on the simulated host: deltas committed into the layer below as one change that is kept whole or undone.

import { posix } from 'node:path';
import { openChainFromDescriptor, type ChainLayerInfo } from '../../formats/chain.js';
import { formatDescriptor, parseDescriptor } from '../../formats/vmdk-descriptor.js';
import type { VmSpec } from '../inventory.js';
import type { Vfs } from '../vmfs/types.js';
import { UndoJournal } from './undo-journal.js';
import { diskSlot } from './vm-files.js';
import { HostFault, type SnapshotRecord, type VmState } from './vm-state.js';
import { childLayers, currentSnapshot, layerEdges, unlinkSnapshot } from './snapshot-tree.js';
import { formatVmsd, hostdWritesVmsd } from './vmsd-file.js';
import type { ConfigFile } from './vmx-file.js';

/** The parts of a VM a consolidation reads and changes. */
export interface ConsolidationTarget {
  readonly vfs: Vfs;
  readonly state: VmState;
  readonly spec: VmSpec;
  readonly dir: string;
  readonly fileBase: string;
  config(): ConfigFile;
}

/**
 * Removes the snapshots with these uids, in this order (newest first for a remove-all). Where exactly one layer
 * sits on the layer a snapshot keeps (its child snapshot's, or the VM's running delta), that layer is committed
 * into it and whatever named it (the .vmx, a child's descriptor) is pointed past it; a layer kept by a
 * snapshot on a branch nothing else reads is deleted; a branch point stays as it is. Either every step
 * succeeds and the deltas are deleted, or every file is put back as it was and the records stay: a host that
 * runs out of space during a consolidation reports it and leaves the VM running on its delta, it does not
 * leave a .vmx naming a deleted disk. Returns the removed records.
 */
export function consolidate(vm: ConsolidationTarget, uids: readonly number[]): SnapshotRecord[] {
  const { vfs, state } = vm;
  for (const uid of uids) {
    if (!state.snapshots.some((s) => s.uid === uid)) throw new HostFault('vim.fault.NotFound', `The object or item referred to could not be found. (snapshot ${uid})`, -1);
  }
  checkRoom(vm, uids);
  const saved = state.snapshots.map((s) => ({ ...s, children: [...s.children], ...(s.disks ? { disks: [...s.disks] } : {}) }));
  const savedCurrent = state.current;
  const journal = new UndoJournal(vfs);
  const doomed: string[] = [];
  const removed: SnapshotRecord[] = [];
  try {
    const cfg = vm.config();
    for (const uid of uids) {
      const snap = state.snapshots.find((s) => s.uid === uid)!;
      snap.children.forEach((childPath, i) => {
        if (!childPath) return;
        const slot = `${diskSlot(vm.spec.disks[i]!, i)}.fileName`;
        const file = cfg.get(slot)!;
        const top = posix.isAbsolute(file) ? file : `${vm.dir}/${file}`;
        const kept = snap.disks?.[i];
        if (!kept) return;
        const others = state.snapshots.filter((s) => s !== snap);
        const edges = layerEdges(vfs, top, state.snapshots, i);
        const above = childLayers(edges, kept);
        if (above.length === 1) {
          // The one layer on it is merged down: the kept layer then holds what that layer held.
          const merged = above[0]!;
          const chain = openChainFromDescriptor(merged, (p) => journal.open(p));
          let below: ChainLayerInfo;
          try {
            chain.commitTop();
            below = chain.layers[chain.layers.length - 2]!;
          } finally {
            chain.close();
          }
          for (const next of childLayers(edges, merged)) {
            const nd = parseDescriptor(vfs.readFile(next).toString('utf8'));
            nd.parentFileNameHint = posix.basename(below.descriptorPath);
            nd.parentCid = below.descriptor.cid;
            journal.rewrite(next, formatDescriptor(nd));
          }
          if (top === merged) cfg.set(slot, posix.basename(below.descriptorPath));
          for (const o of others) {
            if (o.disks?.[i] === merged) o.disks[i] = kept;
            if (o.children[i] === merged) o.children[i] = kept;
          }
          doomLayer(vm, merged, doomed);
        } else if (above.length === 0 && edges.get(kept) !== undefined && top !== kept) {
          // A layer only this snapshot kept (a branch the VM no longer runs on): nothing else reads it.
          doomLayer(vm, kept, doomed);
        }
        // Two or more layers on it (a branch point): they all still read it, so it stays.
      });
      doomed.push(snap.vmsn);
      unlinkSnapshot(state, snap);
      removed.push(snap);
    }
    journal.rewrite(state.vmxPath, cfg.format());
    if (hostdWritesVmsd(vm.spec)) {
      journal.rewrite(`${vm.dir}/${vm.fileBase}.vmsd`, formatVmsd(state.snapshots, state.lastUid, vm.fileBase, vm.spec, currentSnapshot(state)));
    }
  } catch (e) {
    journal.undo();
    state.snapshots.splice(0, state.snapshots.length, ...saved);
    state.current = savedCurrent;
    if ((e as { code?: string }).code === 'ENOSPC') throw outOfSpace(vm, uids);
    throw new HostFault('vim.fault.FileFault', `An error occurred while consolidating disks: ${(e as Error).message}`, -1);
  }
  journal.keep();
  for (const path of doomed) {
    try {
      vfs.remove(path);
    } catch {
      /* already gone */
    }
  }
  return removed;
}

/** A snapshot link's descriptor and its extent files, to delete once the change is kept. */
export function doomLayer(vm: Pick<ConsolidationTarget, 'vfs' | 'dir'>, descriptorPath: string, doomed: string[]): void {
  const d = parseDescriptor(vm.vfs.readFile(descriptorPath).toString('utf8'));
  for (const ext of d.extents) if (ext.fileName) doomed.push(posix.isAbsolute(ext.fileName) ? ext.fileName : `${posix.dirname(descriptorPath)}/${ext.fileName}`);
  doomed.push(descriptorPath);
}

/**
 * A consolidation needs room before it starts: a running VM's writes go to a helper delta meanwhile, and the
 * host writes new descriptors. How much a real host asks for is not documented; the simulator asks one free
 * block per disk it consolidates on the VM's datastore, powered on or off (stricter where unsure).
 */
function checkRoom(vm: ConsolidationTarget, uids: readonly number[]): void {
  const disks = new Set<number>();
  for (const s of vm.state.snapshots) if (uids.includes(s.uid)) s.children.forEach((c, i) => c && disks.add(i));
  const ds = datastoreOf(vm);
  if (ds && ds.free < disks.size * ds.blockSize) throw outOfSpace(vm, uids);
}

function datastoreOf(vm: ConsolidationTarget) {
  return vm.vfs.datastores().find((d) => vm.dir.startsWith(`/vmfs/volumes/${d.uuid}/`));
}

/**
 * The fault of a consolidation that ran out of space. The type is the API's NoDiskSpace; the exact text a real
 * host prints for a failed snapshot removal is not known, so this combines the API's message for the fault
 * with the message id hosts log for an out-of-space disk (msg.hbacommon.outofspace).
 */
function outOfSpace(vm: ConsolidationTarget, uids: readonly number[]): HostFault {
  const ds = datastoreOf(vm)?.name ?? '';
  const disk = vm.state.snapshots.find((s) => s.uid === uids[0])?.children.find((c) => c) ?? vm.state.vmxPath;
  return new HostFault(
    'vim.fault.NoDiskSpace',
    `An error occurred while consolidating disks: msg.hbacommon.outofspace: There is no more space for virtual disk ${posix.basename(disk)}. Insufficient disk space on datastore '${ds}'.`,
    -1,
  );
}
