// The host interface every layer above uses, whichever command set (vim-cmd or vmware-cmd) the host speaks.

import type { BlockMap } from './parse/block-map.js';
import type { PowerState } from './parse/power-state.js';
import type { SnapshotInfo } from './parse/snapshot-tree.js';
import type { HostVersion } from './parse/version.js';

export type { BlockMap, DiskExtent, ExtentKind } from './parse/block-map.js';
export type { PowerState } from './parse/power-state.js';
export type { SnapshotInfo } from './parse/snapshot-tree.js';
export type { HostVersion } from './parse/version.js';
export type { ChainTop, OwnedSnapshot, SnapshotBaseline } from './snapshot-evidence.js';
import type { SnapshotBaseline } from './snapshot-evidence.js';

import type { Readable } from 'node:stream';
import type { DiskAdapter } from './commands/stock.js';
import type { VolumeSpace } from './parse/fs-info.js';
export type { DiskAdapter } from './commands/stock.js';
export type { VolumeSpace } from './parse/fs-info.js';

export type CommandSet = 'vim-cmd' | 'vmware-cmd';

export interface VmRef {
  /** What the host addresses the VM by: the vmid on ESXi (vcbMounter's `moref:`), the .vmx path on ESX 3.x. */
  id: string;
  /** Display name, exact as configured (vcbMounter's `name:` compares it case-sensitively). */
  name: string;
  /** Absolute `/vmfs/volumes/<datastore>/...` path of the .vmx (ESX 3.x prints the volume uuid form). */
  vmxPath: string;
  /** `[datastore] dir/vm.vmx`; absent when only the volume uuid is known. */
  bracketPath?: string;
  /** Guest OS identifier, e.g. `otherLinux64Guest`. */
  guestOs?: string;
}

export interface VmInfo {
  name: string;
  powerState: PowerState;
  vmxPath: string;
  /** BIOS uuid (`uuid.bios`), vcbMounter's `uuid:`. Formats differ: ESXi prints the dashed form, ESX 3.x the `56 4d ...` form. */
  biosUuid?: string;
  /** Only when the guest runs Tools and reports one. */
  ipAddress?: string;
  /** undefined when the host cannot tell (ESX 3.x). */
  toolsRunning?: boolean;
  guestFullName?: string;
}

export interface CreateSnapshotOptions {
  name: string;
  description: string;
  /** Ask Tools to quiesce the guest file systems first. */
  quiesce: boolean;
  /** Include the memory state (the VM can resume from it; slower, larger). */
  memory: boolean;
  /** Bound on the create command; a quiesce can hang. */
  timeoutMs?: number;
  /**
   * The VM's snapshots as the caller listed them just before, with nothing run on the VM since: the
   * create protocol then skips its own listing before the command (on a real host each listing is a
   * hostd round trip, up to a second).
   */
  listing?: readonly SnapshotInfo[];
  /** From snapshotBaseline, where the host has one: what the create is judged against (read afresh when absent). */
  baseline?: SnapshotBaseline;
}

/** Whether VMware Tools in the guest report in (the guest OS has booted), and the host's words for it. */
export interface GuestHeartbeat {
  beating: boolean;
  /** What the host said, e.g. `toolsRunningStatus = guestToolsRunning, ipAddress = 10.1.1.7` or `getheartbeat() = 12`. */
  evidence: string;
}

/** What a request for a clean guest shutdown got: accepted (the guest shuts down in its own time), or refused because no VMware Tools run in it. */
export type ShutdownAnswer = 'requested' | 'no-tools';

export interface RemoveSnapshotOptions {
  timeoutMs?: number;
  /** As CreateSnapshotOptions.listing: a listing the caller just made, used to find the snapshot instead of listing again. */
  listing?: readonly SnapshotInfo[];
}

/**
 * One ESX/ESXi host. Every method runs stock host commands through the Transport and throws
 * VcbError: HOST_COMMAND (command failed or printed something unexpected; context.command is the
 * argv), SNAPSHOT (snapshot create/remove failed or was refused), CONNECT/HOST_KEY/INTERRUPTED
 * (transport trouble; the cause is the TransportError). Methods never pass a VM or snapshot name
 * through a shell: argv elements are quoted by the transport.
 */
export interface EsxHost {
  readonly commandSet: CommandSet;

  /** `vmware -v`. Read-only; safe to retry. */
  version(): Promise<HostVersion>;

  /** Registered VMs in host order. Read-only; safe to retry. */
  listVms(): Promise<VmRef[]>;

  /** Power state, identity and guest facts. Read-only; safe to retry. */
  getVmInfo(vm: VmRef): Promise<VmInfo>;

  /** The snapshot tree flattened depth-first (parents before children). Read-only; safe to retry. */
  listSnapshots(vm: VmRef): Promise<SnapshotInfo[]>;

  /**
   * ESX 3.x: what the host shows before a create (hassnapshot 0 and the disk chains), by which the run's
   * snapshot is recognised even when the .vmsd does not list it; journal it before the create. `listing`
   * is a listing just made (nothing run on the VM since), saving a hassnapshot. Undefined on hosts whose
   * listing names every snapshot (vim-cmd). Throws SNAPSHOT, before anything is created, when the state
   * is ambiguous: hostd reports a snapshot, or the chains cannot be read.
   */
  snapshotBaseline(vm: VmRef, listing?: readonly SnapshotInfo[]): Promise<SnapshotBaseline | undefined>;

  /**
   * Creates a snapshot and returns it as listed afterwards (so its id is known where the host has ids).
   * Not idempotent: after a failure or timeout, call listSnapshots and look for `name` before
   * trying again; a timed-out create may still complete on the host.
   */
  createSnapshot(vm: VmRef, options: CreateSnapshotOptions): Promise<SnapshotInfo>;

  /**
   * Removes (commits into its parent) exactly this snapshot, matched by id, else by its name path
   * and creation time. Idempotent: returns 'absent' when it is already gone, so it is safe to
   * retry and to call from cleanup. Where the host can only remove all snapshots (ESX 3.x, vim-cmd
   * builds without ids) it refuses with SNAPSHOT when any other snapshot exists, never
   * consolidating a user's snapshots.
   */
  removeSnapshot(vm: VmRef, snapshot: SnapshotInfo, options?: RemoveSnapshotOptions): Promise<'removed' | 'absent'>;

  /**
   * Whether the host says the VM's disks need consolidating (ESXi 5+'s runtime.consolidationNeeded: a snapshot
   * removal left the VM running on deltas); undefined where the host does not say (ESX 3.x, older ESXi).
   * Read-only; safe to retry.
   */
  consolidationNeeded(vm: VmRef): Promise<boolean | undefined>;

  /**
   * Asks the host to consolidate the VM's disks (`vim-cmd vmsvc/snapshot.consolidate`). Throws SNAPSHOT when the
   * host refuses or fails, and on hosts that have no such command (ESX 3.x). Snapshots are not touched.
   */
  consolidateDisks(vm: VmRef, options?: { timeoutMs?: number }): Promise<void>;

  /** The VM's power state now (`power.getstate`, `getstate`). Read-only; safe to retry. */
  powerState(vm: VmRef): Promise<PowerState>;

  /**
   * Asks the guest OS to shut down cleanly through VMware Tools (`power.shutdown`, `stop soft`). Resolves once
   * the host accepted the request (vim-cmd answers at once; vmware-cmd's `stop soft` waits for the guest,
   * bounded by timeoutMs, after which the guest may still be shutting down): the caller polls powerState until
   * `off`. 'no-tools' when the host refuses because Tools are not running. Other refusals (the VM is not on)
   * throw POWER. Not idempotent: a second request to a guest already shutting down may be refused.
   */
  shutdownGuest(vm: VmRef, options?: { timeoutMs?: number }): Promise<ShutdownAnswer>;

  /** Powers the VM off at once, like pulling the plug (`power.off`, `stop hard`). Throws POWER when the host refuses (the VM is already off). */
  powerOff(vm: VmRef, options?: { timeoutMs?: number }): Promise<void>;

  /**
   * Powers the VM on (`power.on`, `start`); resolves when the host reports it done. Throws POWER when the host refuses
   * (the VM is already on, or a question is pending: a moved or copied VM).
   */
  powerOn(vm: VmRef, options?: { timeoutMs?: number }): Promise<void>;

  /** A small text file (a .vmx, .vmsd, disk descriptor) by absolute host path. Read-only; safe to retry. */
  readFile(path: string): Promise<string>;

  /** `vmkfstools -t0` of a disk descriptor: where each extent of the disk lies on the LUN. Read-only; safe to retry. */
  blockMap(diskPath: string): Promise<BlockMap>;

  /**
   * `vmkfstools -t0` of a snapshot link's descriptor: the delta file's block map, or the host's reason when it
   * gives none that parses (some hosts refuse to map a snapshot delta). A dropped connection, a timeout or an
   * interrupt still throws. Read-only; safe to retry.
   */
  snapshotDeltaMap(descriptorPath: string): Promise<{ map: BlockMap } | { refused: string }>;

  /** `vmkfstools -P`: capacity and free bytes of the VMFS volume holding `path`. Read-only; safe to retry. */
  volumeSpace(path: string): Promise<VolumeSpace>;

  /**
   * `mkdir`: a new directory on a datastore (an existing one fails with DESTINATION, so a restore never writes
   * into someone's files); with `parents`, `mkdir -p` (existing ones are fine). Not idempotent.
   */
  makeDirectory(path: string, options?: { parents?: boolean }): Promise<void>;

  /** `ls -d`: whether a file or directory exists on the host. Read-only; safe to retry. */
  pathExists(path: string): Promise<boolean>;

  /** `mv` of a VM's directory to a new name on the same datastore. Not idempotent. */
  movePath(from: string, to: string): Promise<void>;

  /** `rm -rf` of a VM's directory (never a datastore root, see requireVmDirectory). Idempotent. */
  removeDirectory(path: string, options?: { timeoutMs?: number }): Promise<void>;

  /** `vmkfstools -c <bytes> -d thin -a <adapter>`: a new thin disk, nothing allocated. Fails if it exists. */
  createThinDisk(descriptorPath: string, capacity: number, adapter: DiskAdapter): Promise<void>;

  /**
   * Writes `data` into a disk's flat file from `offset` (whole MiB) on one channel (`dd of= seek= conv=notrunc`
   * reading stdin to its end). Throws DATASTORE_FULL when the volume runs out of space part-way, as a thin
   * disk on a full VMFS fails only when a write allocates. Safe to retry (the same bytes land in the same place).
   */
  writeDiskRange(flatPath: string, offset: number, data: Buffer | Readable, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /** `cat > path`: a small file (.vmx, .nvram, .vmsd) with exactly these bytes, replacing any. Safe to retry. */
  uploadFile(path: string, data: Buffer, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;

  /**
   * Registers a .vmx (`vim-cmd solo/registervm`, `vmware-cmd -s register`) and returns the VM as the host
   * addresses it. Not idempotent: a .vmx already registered is refused by the host.
   */
  registerVm(vmxPath: string, displayName: string): Promise<VmRef>;

  /** Unregisters a powered-off VM; its files stay. A powered-on VM is refused by the host. */
  unregisterVm(vm: VmRef): Promise<void>;

  /**
   * Whether VMware Tools in the guest are running and report in: `get.summary`'s guest.toolsRunningStatus
   * (vim-cmd), `getheartbeat` above 0 (vmware-cmd: the count restarts at 0 with each power-on). Read-only; safe to retry.
   */
  guestHeartbeat(vm: VmRef): Promise<GuestHeartbeat>;

}
