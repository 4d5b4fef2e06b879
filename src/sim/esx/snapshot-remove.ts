// Snapshot removal on the simulated host: deltas committed into the layer below as one change that is kept whole or undone.

import { posix } from 'node:path';
import { openChainFromDescriptor, type ChainLayerInfo } from '../../formats/chain.js';
import { formatDescriptor, parseDescriptor } from '../../formats/vmdk-descriptor.js';
import type { VmSpec } from '../inventory.js';
import type { Vfs } from '../vmfs/types.js';
import { UndoJournal } from './undo-journal.js';
import { diskSlot } from './vm-files.js';
import { HostFault, type SnapshotRecord, type VmState } from './vm-state.js';
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
 * Removes the snapshots with these uids, in this order (newest first for a remove-all). Each one's delta is
 * committed into the layer below and the next snapshot (or the .vmx) is pointed past it. Either every step
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
  const saved = [...state.snapshots];
  const journal = new UndoJournal(vfs);
  const doomed: string[] = [];
  const removed: SnapshotRecord[] = [];
  try {
    const cfg = vm.config();
    for (const uid of uids) {
      const k = state.snapshots.findIndex((s) => s.uid === uid);
      const snap = state.snapshots[k]!;
      const next = state.snapshots[k + 1];
      snap.children.forEach((childPath, i) => {
        if (!childPath) return;
        const chain = openChainFromDescriptor(childPath, (p) => journal.open(p));
        let below: ChainLayerInfo;
        try {
          chain.commitTop();
          below = chain.layers[chain.layers.length - 2]!;
        } finally {
          chain.close();
        }
        const nextChild = next?.children[i];
        if (nextChild) {
          const nd = parseDescriptor(vfs.readFile(nextChild).toString('utf8'));
          nd.parentFileNameHint = posix.basename(below.descriptorPath);
          nd.parentCid = below.descriptor.cid;
          journal.rewrite(nextChild, formatDescriptor(nd));
        } else {
          cfg.set(`${diskSlot(vm.spec.disks[i]!, i)}.fileName`, posix.basename(below.descriptorPath));
        }
        const child = parseDescriptor(vfs.readFile(childPath).toString('utf8'));
        for (const ext of child.extents) if (ext.fileName) doomed.push(`${vm.dir}/${ext.fileName}`);
        doomed.push(childPath);
      });
      doomed.push(snap.vmsn);
      state.snapshots.splice(k, 1);
      removed.push(snap);
    }
    journal.rewrite(state.vmxPath, cfg.format());
    if (hostdWritesVmsd(vm.spec)) journal.rewrite(`${vm.dir}/${vm.fileBase}.vmsd`, formatVmsd(state.snapshots, state.lastUid, vm.fileBase, vm.spec));
  } catch (e) {
    journal.undo();
    state.snapshots.splice(0, state.snapshots.length, ...saved);
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
