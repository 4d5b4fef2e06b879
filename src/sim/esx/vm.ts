// A VM on the simulated host: its files, power state, guest and disk chains; snapshots are taken and removed by their own modules.

import { posix } from 'node:path';
import { openChainFromDescriptor, type DescriptorChain } from '../../formats/chain.js';
import { Guest } from '../guest/guest.js';
import type { VmSpec } from '../inventory.js';
import type { Vfs } from '../vmfs/types.js';
import { createSnapshot, type SnapshotOptions, type SnapshotTarget } from './snapshot-create.js';
import { consolidate } from './snapshot-remove.js';
import { consolidateDisks, consolidationNeeded, removeWithoutConsolidating } from './disk-consolidation.js';
import { revertToSnapshot } from './snapshot-revert.js';
import { currentSnapshot, normalizeTree } from './snapshot-tree.js';
import { diskSlot, locationUuidFor } from './vm-files.js';
import { HostFault, type PowerState, type SnapshotRecord, type VmState } from './vm-state.js';
import { ConfigFile } from './vmx-file.js';

export { HostFault, type PowerState, type SnapshotRecord, type VmState } from './vm-state.js';

export class SimVm {
  readonly guest: Guest;
  private chains = new Map<number, DescriptorChain>();
  private busy = false;
  /** A guest shutdown under way (power.shutdown, stop soft): when it ends, and who waits for it. */
  private shutdown?: { timer?: NodeJS.Timeout; done: Promise<void>; finish: () => void };

  constructor(
    readonly state: VmState,
    private readonly vfs: Vfs,
    private readonly persist: () => void,
    guestLogPath: string,
    private readonly stopping: AbortSignal,
    private readonly vmfsVersionAt: (path: string) => 5 | 6 = () => 5,
    /** How long after a power-on VMware Tools start in a guest that boots (the host's timing, read when asked). */
    private readonly toolsStartMs: () => number = () => 0,
  ) {
    normalizeTree(state, vfs);
    const g = state.spec.guest;
    this.guest = new Guest({
      seed: g.seed,
      writesPerSecond: g.writesPerSecond,
      writeSize: g.writeSize,
      flushIntervalMs: g.flushIntervalMs,
      region: g.region,
      ...(g.regionStart !== undefined ? { regionStart: g.regionStart } : {}),
      diskSizes: state.spec.disks.map((d) => d.size),
      logPath: guestLogPath,
      apply: (disk, offset, data) => this.chain(disk).write(data, offset),
    });
  }

  get vmid(): number {
    return this.state.vmid;
  }
  get name(): string {
    return this.state.spec.name;
  }
  get spec(): VmSpec {
    return this.state.spec;
  }
  /** The name VMware uses for the VM's files (the .vmx base name). */
  get fileBase(): string {
    return posix.basename(this.state.vmxPath, '.vmx');
  }
  get dir(): string {
    return posix.dirname(this.state.vmxPath);
  }
  get power(): PowerState {
    return this.state.power;
  }
  get toolsRunning(): boolean {
    const from = this.state.toolsFrom;
    return this.power === 'on' && this.spec.tools.installed && this.spec.tools.running && from !== null && (from === undefined || Date.now() >= from);
  }
  /**
   * vmware-cmd's getheartbeat: the count of heartbeats VMware Tools sent since the power-on (one a second), 0 until
   * they start and for ever in a guest that did not boot.
   */
  get heartbeat(): number {
    if (!this.toolsRunning) return 0;
    const from = this.state.toolsFrom ?? 0;
    return 1 + Math.floor((Date.now() - from) / 1000);
  }
  get ipAddress(): string | undefined {
    return this.toolsRunning ? this.spec.ip : undefined;
  }
  /** The VMFS version of the datastore holding the VM's directory, where its snapshot deltas are created. */
  get vmfsVersion(): 5 | 6 {
    return this.vmfsVersionAt(this.dir);
  }
  get snapshots(): readonly SnapshotRecord[] {
    return this.state.snapshots;
  }
  /** uid of the snapshot the VM runs from (0: none); after a revert not the newest. */
  get currentSnapshot(): number {
    return currentSnapshot(this.state);
  }
  /** runtime.consolidationNeeded: the VM runs on a delta no snapshot keeps (a removal left it unconsolidated). */
  get consolidationNeeded(): boolean {
    return consolidationNeeded(this.target());
  }

  config(): ConfigFile {
    return ConfigFile.parse(this.vfs.readFile(this.state.vmxPath).toString('utf8'));
  }

  /** Absolute path of the descriptor the VM currently uses for disk i (the top of its chain). */
  diskPath(i: number): string {
    const file = this.config().get(`${diskSlot(this.spec.disks[i]!, i)}.fileName`);
    if (!file) throw new Error(`${this.name}: disk ${i} has no fileName in the .vmx`);
    return posix.isAbsolute(file) ? file : `${this.dir}/${file}`;
  }

  /** Independent disks and physical-mode RDMs stay out of snapshots; virtual-mode RDMs get a delta like any disk. */
  private snapshotable(i: number): boolean {
    const d = this.spec.disks[i]!;
    return d.mode === 'persistent' && d.rdm !== 'physical';
  }

  chain(i: number): DescriptorChain {
    let c = this.chains.get(i);
    if (!c) {
      c = openChainFromDescriptor(this.diskPath(i), (p) => this.vfs.open(p));
      this.chains.set(i, c);
    }
    return c;
  }

  private dropChains(): void {
    for (const c of this.chains.values()) c.close();
    this.chains.clear();
  }

  /**
   * A write the guest's own file system makes (a test's file created after the snapshot, say): it goes to the
   * disk's current top like any guest write, but is not one of the seeded writes the guest log replays.
   */
  writeAsGuest(disk: number, offset: number, data: Buffer): void {
    this.chain(disk).write(data, offset);
    this.guest.marker('file-system write', { disk, offset, length: data.length });
  }

  /** The disk as the guest sees it right now. */
  readDisk(i: number): Buffer {
    const buf = Buffer.alloc(this.spec.disks[i]!.size);
    this.chain(i).read(buf, 0);
    return buf;
  }

  vswpPath(): string {
    const name = this.config().get('sched.swap.derivedName');
    return name ?? `${this.dir}/${this.fileBase}.vswp`;
  }

  /** `alreadyBooted`: the inventory builds the VM running, its guest up since before the host started. */
  powerOn(alreadyBooted = false): void {
    if (this.power === 'on') throw new HostFault('vim.fault.InvalidPowerState', 'The attempted operation cannot be performed in the current state (Powered on).', -8);
    this.answerMovedOrCopied();
    this.vfs.createFile(this.vswpPath(), { size: 1024 * 1024 * 1024, thin: true });
    if (alreadyBooted) delete this.state.toolsFrom;
    else this.state.toolsFrom = this.guestBoots() ? Date.now() + this.toolsStartMs() : null;
    this.state.power = 'on';
    this.persist();
    this.guest.marker('power.on');
    this.guest.start();
  }

  /** Whether the guest OS comes up (see the inventory's `boot`): from a boot disk, a BIOS needs the boot signature at byte 510. */
  private guestBoots(): boolean {
    const boot = this.spec.boot ?? 'yes';
    if (boot !== 'disk') return boot === 'yes';
    const sector = Buffer.alloc(512);
    this.chain(0).read(sector, 0);
    return sector[510] === 0x55 && sector[511] === 0xaa;
  }

  /** Whether the guest is shutting down (asked through Tools, not yet off). */
  get shuttingDown(): boolean {
    return this.shutdown !== undefined;
  }

  /**
   * power.shutdown / stop soft: asks the guest, through VMware Tools, to shut down, and returns at once. The guest
   * keeps running (and writing) for `durationMs` (the VM's own `shutdown.durationMs`, else the host's), then
   * flushes its buffers and powers off; with the VM's `shutdown.hang` it never does. Refused, as hostd refuses it,
   * when the VM is not on or Tools are not running; a second request while one is under way is refused too.
   */
  requestShutdown(hostDurationMs: number): void {
    if (this.power !== 'on') throw new HostFault('vim.fault.InvalidPowerState', `The attempted operation cannot be performed in the current state (${this.power === 'off' ? 'Powered off' : 'Suspended'}).`, -8);
    if (!this.toolsRunning) throw new HostFault('vim.fault.ToolsUnavailable', 'Cannot complete operation because VMware Tools is not running in this virtual machine.', -8);
    if (this.shutdown) throw new HostFault('vim.fault.TaskInProgress', 'The operation is not allowed in the current state: a guest shutdown is already in progress.', -8);
    let finish = () => {};
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.shutdown = { done, finish };
    this.guest.marker('power.shutdown.requested');
    const spec = this.spec.shutdown ?? { hang: false };
    if (spec.hang) return;
    const timer = setTimeout(() => {
      if (this.power === 'on' && !this.stopping.aborted) this.powerOff('soft');
    }, spec.durationMs ?? hostDurationMs);
    timer.unref();
    this.shutdown.timer = timer;
    // The simulator stopping pulls the plug: no shutdown completes after it.
    this.stopping.addEventListener('abort', () => clearTimeout(timer), { once: true });
  }

  /** Resolves when the shutdown under way ends (the VM is off); at once when none is. Rejects when `signal` aborts. */
  shutdownEnded(signal: AbortSignal): Promise<void> {
    const done = this.shutdown?.done;
    if (!done) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason ?? new Error('aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void done.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }


  /**
   * A .vmx whose uuid.location is not this path's was moved or copied here: a real host stops the power-on
   * with the question "msg.uuid.moved" until someone answers it. `uuid.action = "keep"` answers "moved" (the
   * BIOS uuid stays), `"create"` answers "copied" (a new BIOS uuid and MAC address). Without either the
   * simulator refuses the power-on, stricter than a host that would sit waiting for an answer.
   */
  private answerMovedOrCopied(): void {
    const cfg = this.config();
    const here = locationUuidFor(this.state.vmxPath);
    const recorded = cfg.get('uuid.location');
    if (recorded === undefined || recorded === here) return;
    const action = cfg.get('uuid.action')?.toLowerCase();
    if (action !== 'keep' && action !== 'create') {
      throw new HostFault(
        'vim.fault.InvalidState',
        "msg.uuid.moved: The location of this virtual machine's configuration file has changed since it was last powered on. If the virtual machine has been copied, you should create a new unique identifier (UUID). If it has been moved, you should keep its old identifier. A question is pending: answer it before the virtual machine can power on.",
        -16,
      );
    }
    cfg.set('uuid.location', here);
    if (action === 'create') {
      const fresh = locationUuidFor(`${this.state.vmxPath}#${this.vmid}#${Date.now()}`);
      cfg.set('uuid.bios', fresh);
      if (cfg.get('ethernet0.addressType') === 'generated') {
        const mac = fresh.replace(/[ -]/g, '').slice(-6).match(/../g)!.join(':');
        cfg.set('ethernet0.generatedAddress', `00:0c:29:${mac}`);
      }
    }
    this.vfs.writeFile(this.state.vmxPath, cfg.format());
  }

  /** hard: buffered guest writes are lost; soft (the end of a guest shutdown): they are flushed first. */
  powerOff(mode: 'hard' | 'soft'): void {
    if (this.power === 'off') throw new HostFault('vim.fault.InvalidPowerState', 'The attempted operation cannot be performed in the current state (Powered off).', -8);
    if (mode === 'soft' && !this.toolsRunning) {
      throw new HostFault('vim.fault.ToolsUnavailable', 'Cannot complete operation because VMware Tools is not running in this virtual machine.', -8);
    }
    if (mode === 'soft') this.guest.stop();
    else this.guest.stopHard();
    // A hard power-off ends a guest shutdown under way too.
    const shutdown = this.shutdown;
    this.shutdown = undefined;
    clearTimeout(shutdown?.timer);
    try {
      this.vfs.remove(this.vswpPath());
    } catch {
      /* already gone */
    }
    this.state.power = 'off';
    this.persist();
    this.guest.marker(`power.off.${mode}`);
    shutdown?.finish();
  }

  /**
   * Takes a snapshot the way the host does: with quiesce, runs the guest's freeze scripts, flushes
   * and holds guest I/O, creates the deltas, thaws, runs the thaw scripts. Rejects with a HostFault.
   */
  async createSnapshot(opts: SnapshotOptions): Promise<SnapshotRecord> {
    if (this.busy) throw new HostFault('vim.fault.TaskInProgress', 'Another task is already in progress.', -8);
    this.busy = true;
    try {
      return await createSnapshot(this.target(), opts);
    } finally {
      this.busy = false;
    }
  }

  /** Removes one snapshot: its delta is committed into the layer below and its files are deleted; on failure nothing changes. */
  removeSnapshot(uid: number): void {
    this.removeSnapshots([uid]);
  }

  /** Removes every snapshot, newest first, as one change: all are gone afterwards, or (on failure) all are still there. */
  removeAllSnapshots(): void {
    this.removeSnapshots(this.state.snapshots.map((s) => s.uid).reverse());
  }

  private removeSnapshots(uids: number[]): void {
    if (this.busy) throw new HostFault('vim.fault.TaskInProgress', 'Another task is already in progress.', -8);
    if (uids.length === 0) return;
    const names = new Map(this.state.snapshots.map((s) => [s.uid, s.name]));
    for (const uid of uids) this.guest.marker('snapshot.remove.begin', { name: names.get(uid), uid });
    this.dropChains();
    let removed: SnapshotRecord[];
    const faults = this.state.consolidationFaults;
    try {
      if (faults && faults.unconsolidatedRemovals > 0) {
        faults.unconsolidatedRemovals--;
        removed = removeWithoutConsolidating(this.target(), uids);
      } else removed = consolidate(this.target(), uids);
    } catch (e) {
      this.guest.marker('snapshot.remove.failed', { uids, reason: (e as Error).message });
      throw e;
    } finally {
      this.dropChains();
    }
    this.persist();
    for (const snap of removed) this.guest.marker('snapshot.removed', { name: snap.name, uid: snap.uid });
  }

  /**
   * Reverts to a snapshot (RevertToSnapshot): the VM is powered off, its running state dropped, and it runs from
   * the snapshot's disks; it is powered on again only when the snapshot holds a running VM's memory, unless
   * suppressPowerOn.
   */
  revertToSnapshot(uid: number, suppressPowerOn = false): void {
    if (this.busy) throw new HostFault('vim.fault.TaskInProgress', 'Another task is already in progress.', -8);
    const snap = this.state.snapshots.find((s) => s.uid === uid);
    if (!snap) throw new HostFault('vim.fault.NotFound', `The object or item referred to could not be found. (snapshot ${uid})`, -1);
    if (this.power === 'on') this.powerOff('hard');
    this.dropChains();
    revertToSnapshot(this.target(), uid);
    // A snapshot with memory holds a running guest: it resumes with its Tools already up.
    if (snap.memory && snap.powerState === 'on' && !suppressPowerOn) this.powerOn(true);
  }

  /** `snapshot.consolidate`: merges the deltas a removal left; fails while the VM's consolidation fault says so. */
  consolidateDisks(): void {
    if (this.busy) throw new HostFault('vim.fault.TaskInProgress', 'Another task is already in progress.', -8);
    const faults = this.state.consolidationFaults;
    if (faults && faults.failingConsolidations > 0) {
      faults.failingConsolidations--;
      this.persist();
      throw new HostFault('vim.fault.FileLocked', 'Unable to access file since it is locked. An error occurred while consolidating disks: Could not open/create change tracking file.', -1);
    }
    this.dropChains();
    try {
      consolidateDisks(this.target());
    } finally {
      this.dropChains();
    }
    this.persist();
    this.guest.marker('disks.consolidated');
  }

  /** What the snapshot operations see of this VM. */
  private target(): SnapshotTarget {
    const vm = this;
    return {
      vfs: this.vfs,
      state: this.state,
      spec: this.spec,
      dir: this.dir,
      fileBase: this.fileBase,
      name: this.name,
      guest: this.guest,
      stopping: this.stopping,
      vmfsVersion: this.vmfsVersion,
      get power() {
        return vm.power;
      },
      get toolsRunning() {
        return vm.toolsRunning;
      },
      config: () => this.config(),
      diskPath: (i) => this.diskPath(i),
      snapshotable: (i) => this.snapshotable(i),
      dropChains: () => this.dropChains(),
      persist: () => this.persist(),
    };
  }
}
