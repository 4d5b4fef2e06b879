// What the simulated host keeps about a VM between runs (host.json), and the error type its operations fail with.

import type { VmSpec } from '../inventory.js';

export type PowerState = 'on' | 'off' | 'suspended';

export interface SnapshotRecord {
  uid: number;
  name: string;
  description: string;
  createdAt: number;
  quiesced: boolean;
  memory: boolean;
  powerState: PowerState;
  /** Per disk index: the child descriptor this snapshot created ('' for disks it skipped). */
  children: string[];
  /** Per disk index: the descriptor holding the disk as this snapshot keeps it (the layer its delta was put on). */
  disks?: string[];
  /** uid of the parent snapshot, 0 for a root (absent in states saved before trees: the previous record). */
  parent?: number;
  vmsn: string;
}

export interface VmState {
  vmid: number;
  vmxPath: string;
  power: PowerState;
  spec: VmSpec;
  snapshots: SnapshotRecord[];
  lastUid: number;
  nextDelta: number;
  /** The snapshot the VM runs from (the parent of the next one); absent with no snapshots, or in older states (the newest). */
  current?: number;
  /** ESXi: how many coming snapshot removals leave the disks unconsolidated, and how many consolidations fail. */
  consolidationFaults?: { unconsolidatedRemovals: number; failingConsolidations: number };
  /**
   * Since the last power-on: when VMware Tools start in the guest (epoch ms), or null when the guest did not boot.
   * Absent for a VM the inventory built running (its Tools have run since before the host started).
   */
  toolsFrom?: number | null;
}

/** A host-side failure with the fault name vim-cmd prints and the exit status vmware-cmd gives. */
export class HostFault extends Error {
  constructor(
    readonly fault: string,
    message: string,
    readonly vmcontrolCode = -1,
  ) {
    super(message);
  }
}
