// A VM on the simulated host: its files, power state, guest, snapshot tree and quiescing.

import { posix } from 'node:path';
import { createCowd } from '../../formats/cowd.js';
import { openChainFromDescriptor, type DescriptorChain } from '../../formats/chain.js';
import { buildSnapshotDescriptor, formatDescriptor, parseDescriptor, SECTOR_SIZE } from '../../formats/vmdk-descriptor.js';
import { Guest } from '../guest/guest.js';
import type { VmSpec } from '../inventory.js';
import type { Vfs } from '../vmfs/types.js';
import { consolidate } from './snapshot-remove.js';
import { diskSlot, diskStem } from './vm-files.js';
import { HostFault, type PowerState, type SnapshotRecord, type VmState } from './vm-state.js';
import { formatVmsd } from './vmsd-file.js';
import { ConfigFile } from './vmx-file.js';

export { HostFault, type PowerState, type SnapshotRecord, type VmState } from './vm-state.js';

const pad6 = (n: number) => String(n).padStart(6, '0');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

export class SimVm {
  readonly guest: Guest;
  private chains = new Map<number, DescriptorChain>();
  private busy = false;

  constructor(
    readonly state: VmState,
    private readonly vfs: Vfs,
    private readonly persist: () => void,
    guestLogPath: string,
    private readonly stopping: AbortSignal,
  ) {
    const g = state.spec.guest;
    this.guest = new Guest({
      seed: g.seed,
      writesPerSecond: g.writesPerSecond,
      writeSize: g.writeSize,
      flushIntervalMs: g.flushIntervalMs,
      region: g.region,
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
    return this.power === 'on' && this.spec.tools.installed && this.spec.tools.running;
  }
  get ipAddress(): string | undefined {
    return this.toolsRunning ? this.spec.ip : undefined;
  }
  get snapshots(): readonly SnapshotRecord[] {
    return this.state.snapshots;
  }

  config(): ConfigFile {
    return ConfigFile.parse(this.vfs.readFile(this.state.vmxPath).toString('utf8'));
  }

  private writeConfig(cfg: ConfigFile): void {
    this.vfs.writeFile(this.state.vmxPath, cfg.format());
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

  powerOn(): void {
    if (this.power === 'on') throw new HostFault('vim.fault.InvalidPowerState', 'The attempted operation cannot be performed in the current state (Powered on).', -8);
    this.vfs.createFile(this.vswpPath(), { size: 1024 * 1024 * 1024, thin: true });
    this.state.power = 'on';
    this.persist();
    this.guest.marker('power.on');
    this.guest.start();
  }

  /** hard: buffered guest writes are lost; soft (guest shutdown): they are flushed first. */
  powerOff(mode: 'hard' | 'soft'): void {
    if (this.power === 'off') throw new HostFault('vim.fault.InvalidPowerState', 'The attempted operation cannot be performed in the current state (Powered off).', -8);
    if (mode === 'soft' && !this.toolsRunning) {
      throw new HostFault('vim.fault.ToolsUnavailable', 'Cannot complete operation because VMware Tools is not running in this virtual machine.', -8);
    }
    if (mode === 'soft') this.guest.stop();
    else this.guest.stopHard();
    try {
      this.vfs.remove(this.vswpPath());
    } catch {
      /* already gone */
    }
    this.state.power = 'off';
    this.persist();
    this.guest.marker(`power.off.${mode}`);
  }

  /**
   * Takes a snapshot the way the host does: with quiesce, runs the guest's freeze scripts, flushes
   * and holds guest I/O, creates the deltas, thaws, runs the thaw scripts. Rejects with a HostFault.
   */
  async createSnapshot(opts: { name: string; description: string; memory: boolean; quiesce: boolean }): Promise<SnapshotRecord> {
    if (this.busy) throw new HostFault('vim.fault.TaskInProgress', 'Another task is already in progress.', -8);
    this.busy = true;
    try {
      if (opts.quiesce && this.power === 'on') return await this.quiescedSnapshot(opts);
      this.guest.marker('snapshot.begin', { name: opts.name, quiesce: false });
      return this.takeSnapshot({ ...opts, quiesce: false });
    } finally {
      this.busy = false;
    }
  }

  private scriptPaths(): { pre: string; post: string; dir: string } {
    return this.spec.family === 'windows'
      ? { pre: 'C:\\Windows\\pre-freeze-script.bat', post: 'C:\\Windows\\post-thaw-script.bat', dir: 'C:\\Program Files\\VMware\\VMware Tools\\backupScripts.d\\' }
      : { pre: '/usr/sbin/pre-freeze-script', post: '/usr/sbin/post-thaw-script', dir: '/etc/vmware-tools/backupScripts.d/' };
  }

  private async runScript(path: string, arg: string, exitCode: number, durationMs: number): Promise<number> {
    if (durationMs > 0) await sleep(durationMs);
    this.guest.script(path, [arg], exitCode);
    return exitCode;
  }

  private async quiescedSnapshot(opts: { name: string; description: string; memory: boolean }): Promise<SnapshotRecord> {
    if (!this.toolsRunning) {
      throw new HostFault('vim.fault.ToolsUnavailable', 'Cannot create a quiesced snapshot because VMware Tools is not running in this virtual machine.', -8);
    }
    const q = this.spec.quiesce;
    const paths = this.scriptPaths();
    const scripts = [...q.backupScripts].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    this.guest.marker('snapshot.begin', { name: opts.name, quiesce: true });
    const release = async (arg: 'thaw' | 'freezeFail') => {
      const failed: string[] = [];
      for (const s of [...scripts].reverse()) {
        const code = await this.runScript(paths.dir + s.name, arg, arg === 'thaw' ? s.thawExit : 0, s.durationMs);
        if (code !== 0) failed.push(s.name);
      }
      if (q.postThaw) {
        if ((await this.runScript(paths.post, arg, q.postThaw.exitCode, q.postThaw.durationMs)) !== 0) failed.push(paths.post);
      }
      return failed;
    };
    const freezeFailed = async (why: string): Promise<never> => {
      this.guest.thaw();
      await release('freezeFail');
      this.guest.marker('quiesce.failed', { reason: why });
      throw new HostFault('vim.fault.ApplicationQuiesceFault', `An error occurred while quiescing the virtual machine. ${why}`, -8);
    };
    if (q.preFreeze) {
      const code = await this.runScript(paths.pre, 'freeze', q.preFreeze.exitCode, q.preFreeze.durationMs);
      if (code !== 0) return freezeFailed(`The pre-freeze script ${paths.pre} exited with status ${code}.`);
    }
    for (const s of scripts) {
      const code = await this.runScript(paths.dir + s.name, 'freeze', s.freezeExit, s.durationMs);
      if (code !== 0) return freezeFailed(`The freeze script ${paths.dir + s.name} exited with status ${code}.`);
    }
    if (q.syncDriver === 'fail') return freezeFailed('The sync driver could not freeze the file systems.');
    this.guest.freeze();
    if (q.syncDriver === 'hang') {
      await Promise.race([sleep(q.hangMs), new Promise((r) => this.stopping.addEventListener('abort', r, { once: true }))]);
      return freezeFailed('Timed out while waiting for the file systems to freeze.');
    }
    let snap: SnapshotRecord;
    try {
      if (q.freezeMs > 0) await sleep(q.freezeMs);
      snap = this.takeSnapshot({ ...opts, quiesce: true });
    } catch (e) {
      return freezeFailed((e as Error).message);
    }
    this.guest.thaw();
    const failed = await release('thaw');
    if (failed.length) this.guest.marker('thaw.failed', { scripts: failed });
    return snap;
  }

  /** The atomic part of a snapshot: new deltas on every snapshotable disk, .vmx repointed, .vmsd updated. */
  private takeSnapshot(opts: { name: string; description: string; memory: boolean; quiesce: boolean }): SnapshotRecord {
    const cfg = this.config();
    const created: string[] = [];
    const children: string[] = [];
    const n = this.state.nextDelta;
    try {
      this.spec.disks.forEach((disk, i) => {
        if (!this.snapshotable(i)) {
          children.push('');
          return;
        }
        const parentPath = this.diskPath(i);
        const parent = parseDescriptor(this.vfs.readFile(parentPath).toString('utf8'));
        const stem = diskStem(this.fileBase, i);
        const childName = `${stem}-${pad6(n)}.vmdk`;
        const deltaName = `${stem}-${pad6(n)}-delta.vmdk`;
        const sectors = disk.size / SECTOR_SIZE;
        created.push(`${this.dir}/${deltaName}`);
        this.vfs.createFile(`${this.dir}/${deltaName}`, { size: 0, thin: true });
        createCowd(this.vfs.open(`${this.dir}/${deltaName}`), { capacitySectors: sectors, parentFileName: posix.basename(parentPath) });
        const child = buildSnapshotDescriptor({
          capacitySectors: sectors,
          deltaFileName: deltaName,
          parentFileNameHint: posix.basename(parentPath),
          parentCid: parent.cid,
        });
        created.push(`${this.dir}/${childName}`);
        this.vfs.writeFile(`${this.dir}/${childName}`, formatDescriptor(child));
        children.push(`${this.dir}/${childName}`);
      });
      const uid = this.state.lastUid + 1;
      const vmsn = `${this.dir}/${this.fileBase}-Snapshot${uid}.vmsn`;
      created.push(vmsn);
      this.vfs.writeFile(vmsn, `snapshot state of ${this.name}: ${opts.name}\n`);
      this.spec.disks.forEach((d, i) => {
        if (children[i]) cfg.set(`${diskSlot(d, i)}.fileName`, posix.basename(children[i]!));
      });
      this.writeConfig(cfg);
      const rec: SnapshotRecord = {
        uid,
        name: opts.name,
        description: opts.description,
        createdAt: Date.now(),
        quiesced: opts.quiesce,
        memory: opts.memory,
        powerState: this.power,
        children,
        vmsn,
      };
      this.state.lastUid = uid;
      this.state.nextDelta = n + 1;
      this.state.snapshots.push(rec);
      this.dropChains();
      this.writeVmsd();
      this.persist();
      this.guest.marker('snapshot.created', { name: opts.name, uid, quiesced: opts.quiesce });
      return rec;
    } catch (e) {
      for (const p of created.reverse()) {
        try {
          this.vfs.remove(p);
        } catch {
          /* best effort */
        }
      }
      this.dropChains();
      const msg = (e as { code?: string }).code === 'ENOSPC' ? 'Insufficient disk space on datastore.' : (e as Error).message;
      throw new HostFault('vim.fault.FileFault', `An error occurred while saving the snapshot: ${msg}`, -1);
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
    try {
      removed = consolidate({ vfs: this.vfs, state: this.state, spec: this.spec, dir: this.dir, fileBase: this.fileBase, config: () => this.config() }, uids);
    } catch (e) {
      this.guest.marker('snapshot.remove.failed', { uids, reason: (e as Error).message });
      throw e;
    } finally {
      this.dropChains();
    }
    this.persist();
    for (const snap of removed) this.guest.marker('snapshot.removed', { name: snap.name, uid: snap.uid });
  }

  private writeVmsd(): void {
    this.vfs.writeFile(`${this.dir}/${this.fileBase}.vmsd`, formatVmsd(this.state.snapshots, this.state.lastUid, this.fileBase, this.spec));
  }
}
