// The simulated ESX host: builds or reopens its datastores and VMs and keeps their state across runs.

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { defaultVersion, type Inventory, type VmSpec } from '../inventory.js';
import type { Vfs } from '../vmfs/types.js';
import { createVmFiles, fileNameOf } from './vm-files.js';
import { SimVm } from './vm.js';
import { resolveTiming, type HostdTiming } from './hostd-timing.js';
import { HostFault, type VmState } from './vm-state.js';

interface HostState {
  format: 'vcbmounter-sim-host/1';
  kind: 'esxi' | 'esx3';
  version: string;
  hostname: string;
  nextVmid: number;
  vms: VmState[];
}

export interface SimHostOptions {
  stateDir: string;
  inventory: Inventory;
  vfs: Vfs;
  fixturesDir: string;
}

export class SimHost {
  private readonly state: HostState;
  private readonly vmsById = new Map<number, SimVm>();
  private readonly stopper = new AbortController();

  private constructor(
    private readonly opts: SimHostOptions,
    state: HostState,
  ) {
    this.state = state;
  }

  /** Opens the host in stateDir: reuses its saved state, or builds every VM of the inventory. */
  static async open(opts: SimHostOptions): Promise<SimHost> {
    const file = join(opts.stateDir, 'host.json');
    const inv = opts.inventory;
    if (existsSync(file)) {
      const host = new SimHost(opts, JSON.parse(readFileSync(file, 'utf8')) as HostState);
      rmSync(join(opts.stateDir, 'guest'), { recursive: true, force: true });
      for (const vs of host.state.vms) host.attach(vs);
      return host;
    }
    const host = new SimHost(opts, {
      format: 'vcbmounter-sim-host/1',
      kind: inv.host.kind,
      version: inv.host.version ?? defaultVersion(inv.host.kind),
      hostname: inv.host.hostname,
      nextVmid: Math.max(0, ...inv.vms.map((v) => v.vmid ?? 0)) + 1,
      vms: [],
    });
    rmSync(join(opts.stateDir, 'guest'), { recursive: true, force: true });
    for (const spec of inv.vms) await host.build(spec);
    host.save();
    return host;
  }

  private async build(spec: VmSpec): Promise<void> {
    const ds = spec.datastore ?? this.opts.inventory.datastores[0]!.name;
    const dir = this.opts.vfs.canonical(`/vmfs/volumes/${ds}/${spec.dir ?? fileNameOf(spec.name)}`);
    const vmid = spec.vmid ?? this.state.nextVmid++;
    const vmxPath = createVmFiles(this.opts.vfs, dir, spec, vmid, this.opts.inventory.seed + vmid, this.opts.fixturesDir);
    const vs: VmState = { vmid, vmxPath, power: 'off', spec, snapshots: [], lastUid: 0, nextDelta: 1 };
    this.state.vms.push(vs);
    const vm = this.attach(vs);
    if (spec.consolidation && this.state.kind === 'esxi') vs.consolidationFaults = { ...spec.consolidation };
    for (const s of spec.snapshots) {
      await vm.createSnapshot({ name: s.name, description: s.description, memory: false, quiesce: false, ...(s.format ? { format: s.format } : {}) });
      for (let i = 0; i < 32; i++) vm.guest.issue();
      vm.guest.flush();
    }
    if (spec.power === 'on') vm.powerOn(true);
  }

  private attach(vs: VmState): SimVm {
    const vm = new SimVm(vs, this.opts.vfs, () => this.save(), join(this.opts.stateDir, 'guest', `${vs.vmid}.jsonl`), this.stopper.signal, (path) => this.vmfsVersionAt(path), () => this.timing.toolsStartMs);
    this.vmsById.set(vs.vmid, vm);
    if (vs.power === 'on') vm.guest.start();
    return vm;
  }

  /** The VMFS version of the datastore holding path, from the inventory (read at each start, not saved); 5 off a datastore. */
  private vmfsVersionAt(path: string): 5 | 6 {
    const info = this.opts.vfs.datastores().find((d) => path.startsWith(`/vmfs/volumes/${d.uuid}/`));
    return this.opts.inventory.datastores.find((d) => d.name === info?.name)?.vmfsVersion ?? 5;
  }

  get kind(): 'esxi' | 'esx3' {
    return this.state.kind;
  }
  get version(): string {
    return this.state.version;
  }
  get hostname(): string {
    return this.state.hostname;
  }
  get vfs(): Vfs {
    return this.opts.vfs;
  }
  /** Read from the inventory at each start (not saved): whether vmkfstools -t0 maps a snapshot link. */
  get snapshotDeltaMaps(): 'file' | 'refuse' {
    return this.opts.inventory.host.snapshotDeltaMaps;
  }

  /** How long hostd takes over management operations on this host. */
  get timing(): HostdTiming {
    return resolveTiming(this.opts.inventory.host.timing);
  }

  vms(): SimVm[] {
    return [...this.vmsById.values()].sort((a, b) => a.vmid - b.vmid);
  }

  vm(nameOrId: string | number): SimVm {
    const hit = typeof nameOrId === 'number' ? this.vmsById.get(nameOrId) : this.vms().find((v) => v.name === nameOrId);
    if (!hit) throw new Error(`no VM ${JSON.stringify(nameOrId)} on the simulated host`);
    return hit;
  }

  byVmid(text: string): SimVm {
    const vm = /^\d+$/.test(text) ? this.vmsById.get(Number(text)) : undefined;
    if (!vm) throw new HostFault('vim.fault.NotFound', `Unable to find a VM corresponding to "${text}"`, -11);
    return vm;
  }

  byVmx(path: string): SimVm {
    let canonical: string;
    try {
      canonical = this.opts.vfs.canonical(path);
    } catch {
      throw new HostFault('vim.fault.NotFound', `No such virtual machine: ${path}`, -11);
    }
    const vm = this.vms().find((v) => v.state.vmxPath === canonical);
    if (!vm) throw new HostFault('vim.fault.NotFound', `No such virtual machine: ${path}`, -11);
    return vm;
  }

  /** Registers an existing .vmx (solo/registervm, vmware-cmd -s register). */
  register(vmxPath: string): SimVm {
    const canonical = this.opts.vfs.canonical(vmxPath);
    if (!this.opts.vfs.stat(canonical)) throw new HostFault('vim.fault.NotFound', `The object or item referred to could not be found: ${vmxPath}`, -11);
    if (this.vms().some((v) => v.state.vmxPath === canonical)) {
      throw new HostFault('vim.fault.AlreadyExists', `The specified key, name, or identifier '${vmxPath}' already exists.`, -8);
    }
    const text = this.opts.vfs.readFile(canonical).toString('utf8');
    const name = /^displayName\s*=\s*"(.*)"/m.exec(text)?.[1] ?? posix.basename(canonical, '.vmx');
    const disks = [...text.matchAll(/^(\w+\d+:\d+)\.fileName\s*=\s*"(.*)"/gm)].map((m) => ({ slot: m[1]! }));
    const spec: VmSpec = {
      ...this.opts.inventory.vms[0]!,
      name,
      vmid: undefined,
      power: 'off',
      snapshots: [],
      vmsd: 'current',
      // Nothing is known of the guest but its disks: it boots if its first disk is a boot disk, then runs Tools.
      tools: { installed: true, running: true, version: this.opts.inventory.vms[0]!.tools.version },
      boot: 'disk',
      disks: disks.map((d) => ({ size: this.diskSizeOf(canonical, text, d.slot), thin: true, slot: d.slot, mode: 'persistent' as const })),
    };
    const vs: VmState = { vmid: this.state.nextVmid++, vmxPath: canonical, power: 'off', spec, snapshots: [], lastUid: 0, nextDelta: 1 };
    this.state.vms.push(vs);
    const vm = this.attach(vs);
    this.save();
    return vm;
  }

  private diskSizeOf(vmx: string, text: string, slot: string): number {
    const file = new RegExp(`^${slot.replace(':', '\\:')}\\.fileName\\s*=\\s*"(.*)"`, 'm').exec(text)?.[1] ?? '';
    const path = posix.isAbsolute(file) ? file : `${posix.dirname(vmx)}/${file}`;
    const m = /^RW\s+(\d+)/m.exec(this.opts.vfs.readFile(path).toString('utf8'));
    return m ? Number(m[1]) * 512 : 0;
  }

  unregister(vm: SimVm): void {
    if (vm.power !== 'off') throw new HostFault('vim.fault.InvalidPowerState', 'The attempted operation cannot be performed in the current state (Powered on).', -8);
    this.vmsById.delete(vm.vmid);
    this.state.vms = this.state.vms.filter((v) => v.vmid !== vm.vmid);
    this.save();
  }

  save(): void {
    mkdirSync(this.opts.stateDir, { recursive: true });
    const file = join(this.opts.stateDir, 'host.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(this.state, null, 1));
    renameSync(`${file}.tmp`, file);
  }

  /** Stops every guest (flushing nothing: like pulling the plug on the simulator), aborts pending tasks, saves. */
  stop(): void {
    this.stopper.abort();
    for (const vm of this.vms()) vm.guest.stopHard();
    this.save();
    this.opts.vfs.flush();
  }
}
