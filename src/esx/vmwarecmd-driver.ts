// EsxHost over ESX 3.x's vmware-cmd; names come from the .vmx, snapshots from hassnapshot, the .vmsd and the disk chains (read with cat).

import { VcbError } from '../errors.js';
import { unexpectedOutput } from './host-error.js';
import { stockCmd } from './commands/stock.js';
import { StockCommandsHost } from './stock-host.js';
import { vmwareCmd } from './commands/vmware-cmd.js';
import { formatBracketPath, splitVmfsPath } from './datastore-path.js';
import type { SnapshotInfo } from './parse/snapshot-tree.js';
import { parseVmsd } from './parse/vmsd.js';
import { parseVmx } from './parse/vmx.js';
import {
  findVmControlError,
  parseVmwareCmdList,
  parseVmwareCmdResult,
  parseVmwareCmdState,
  parseVmwareCmdSuccess,
} from './parse/vmware-cmd.js';
import { checkHostResult, execOnHost, hostMessage, timeout } from './run.js';
import { TransportError } from '../transport/types.js';
import { judgeOwned, readChainTops, type ChainTop, type OwnedSnapshot, type OwnedState, type SnapshotBaseline } from './snapshot-evidence.js';
import { describeSnapshot } from './snapshot-match.js';
import { requireOnlySnapshot } from './snapshot-steps.js';
import type {
  CreateSnapshotOptions,
  EsxHost,
  GuestHeartbeat,
  PowerState,
  RemoveSnapshotOptions,
  ShutdownAnswer,
  VmInfo,
  VmRef,
} from './types.js';

/** True for a host command that got no answer within its bound (the host may still be carrying it out). */
function timedOut(e: unknown): boolean {
  return e instanceof VcbError && e.cause instanceof TransportError && e.cause.code === 'TIMEOUT';
}

const VOLUME_UUID = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `[ds] path` when the .vmx path names the datastore; undefined when it names the volume by uuid. */
function bracketPathOf(vmxPath: string): string | undefined {
  const parts = splitVmfsPath(vmxPath);
  return parts && !VOLUME_UUID.test(parts.datastore) ? formatBracketPath(parts) : undefined;
}

export function vmsdPathOf(vmxPath: string): string {
  return vmxPath.replace(/\.vmx$/i, '') + '.vmsd';
}

/**
 * Gaps against vim-cmd: no Tools status (toolsRunning stays undefined), the IP only through
 * `getguestinfo ip` (best effort), no guestFullName, and snapshots removable only all at once.
 */
export class VmwareCmdHost extends StockCommandsHost implements EsxHost {
  readonly commandSet = 'vmware-cmd' as const;

  /** One `vmware-cmd -l`, then one `cat` per .vmx for the display name and guest OS. */
  async listVms(): Promise<VmRef[]> {
    const listCommand = vmwareCmd.list();
    const paths = parseVmwareCmdList(await this.run(listCommand), listCommand);
    const vms: VmRef[] = [];
    for (const vmxPath of paths) {
      const readCommand = stockCmd.cat(vmxPath);
      const vmx = parseVmx(await this.run(readCommand), readCommand);
      const name = vmx.get('displayName');
      if (name === undefined) {
        throw new VcbError('HOST_COMMAND', `${vmxPath} has no displayName`, { command: readCommand });
      }
      const vm: VmRef = { id: vmxPath, name, vmxPath };
      const bracketPath = bracketPathOf(vmxPath);
      if (bracketPath !== undefined) vm.bracketPath = bracketPath;
      const guestOs = vmx.get('guestOS');
      if (guestOs !== undefined) vm.guestOs = guestOs;
      vms.push(vm);
    }
    return vms;
  }

  /** ESX 3.x has no consolidationNeeded state: a removesnapshots either commits the deltas or fails. */
  consolidationNeeded(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  consolidateDisks(vm: VmRef): Promise<void> {
    return Promise.reject(new VcbError('SNAPSHOT', `ESX 3.x (vmware-cmd) has no command that consolidates the disks of ${vm.name}`, { vm: vm.name }));
  }

  async getVmInfo(vm: VmRef): Promise<VmInfo> {
    const stateCommand = vmwareCmd.getState(vm.vmxPath);
    const powerState = parseVmwareCmdState(await this.run(stateCommand), stateCommand);
    const uuidCommand = vmwareCmd.getConfig(vm.vmxPath, 'uuid.bios');
    const biosUuid = parseVmwareCmdResult(await this.run(uuidCommand), uuidCommand);
    const info: VmInfo = { name: vm.name, powerState, vmxPath: vm.vmxPath };
    if (biosUuid !== '') info.biosUuid = biosUuid;
    if (powerState === 'on') {
      const ipAddress = await this.guestIp(vm);
      if (ipAddress !== undefined) info.ipAddress = ipAddress;
    }
    return info;
  }

  /** Tools publish the address as guest info `ip`; any failure means "not known", not an error. */
  private async guestIp(vm: VmRef): Promise<string | undefined> {
    const command = vmwareCmd.getGuestInfo(vm.vmxPath, 'ip');
    const result = await execOnHost(this.transport, command);
    if (result.exitCode !== 0) return undefined;
    try {
      const value = parseVmwareCmdResult(result.stdout, command);
      return /^[0-9a-fA-F.:]+$/.test(value) ? value : undefined;
    } catch (err) {
      if (err instanceof VcbError) return undefined;
      throw err;
    }
  }

  /** `getheartbeat`: the Tools' heartbeat count since the power-on; above 0 once they report in. */
  async guestHeartbeat(vm: VmRef): Promise<GuestHeartbeat> {
    const command = vmwareCmd.getHeartbeat(vm.vmxPath);
    const value = parseVmwareCmdResult(await this.run(command), command);
    if (!/^\d+$/.test(value)) throw unexpectedOutput(command, `getheartbeat() = ${JSON.stringify(value)}: expected a count`);
    return { beating: Number(value) > 0, evidence: `getheartbeat() = ${value}` };
  }

  async powerState(vm: VmRef): Promise<PowerState> {
    const command = vmwareCmd.getState(vm.vmxPath);
    return parseVmwareCmdState(await this.run(command), command);
  }

  /**
   * `stop soft` waits for the guest to finish shutting down. When it does not answer within timeoutMs the guest
   * may still be shutting down: that is an accepted request, and the caller's polling decides. A VMControl error
   * naming VMware Tools is the host's refusal for want of them.
   */
  async shutdownGuest(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<ShutdownAnswer> {
    const command = vmwareCmd.stop(vm.vmxPath, 'soft');
    let result;
    try {
      result = await execOnHost(this.transport, command, timeout(options.timeoutMs));
    } catch (e) {
      if (timedOut(e)) return 'requested';
      throw e;
    }
    const vmControl = findVmControlError(`${result.stdout}\n${result.stderr}`);
    if (vmControl && /tools/i.test(vmControl.message)) return 'no-tools';
    this.acceptPower(vm, checkHostResult(command, result, { failureCode: 'POWER' }), command);
    return 'requested';
  }

  async powerOff(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<void> {
    const command = vmwareCmd.stop(vm.vmxPath, 'hard');
    this.acceptPower(vm, await this.run(command, { failureCode: 'POWER', ...timeout(options.timeoutMs) }), command);
  }

  async powerOn(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<void> {
    const command = vmwareCmd.start(vm.vmxPath);
    this.acceptPower(vm, await this.run(command, { failureCode: 'POWER', ...timeout(options.timeoutMs) }), command);
  }

  private acceptPower(vm: VmRef, output: string, command: string[]): void {
    if (!parseVmwareCmdSuccess(output, command)) {
      throw new VcbError('POWER', `${command[2] ?? 'power operation'} of ${vm.name} refused: ${output.trim()}`, { vm: vm.name, command });
    }
  }

  private async hasSnapshot(vm: VmRef): Promise<boolean> {
    const command = vmwareCmd.hasSnapshot(vm.vmxPath);
    return parseVmwareCmdSuccess(await this.run(command), command);
  }

  /** The .vmsd's snapshots, or why it could not be read (missing, unreadable, not a .vmsd): hostd may not have written it. */
  private async readVmsd(vm: VmRef): Promise<{ snapshots: SnapshotInfo[] } | { unreadable: string }> {
    const command = stockCmd.cat(vmsdPathOf(vm.vmxPath));
    const result = await execOnHost(this.transport, command);
    if (result.exitCode !== 0) return { unreadable: hostMessage(result) };
    try {
      return { snapshots: parseVmsd(result.stdout, command) };
    } catch (e) {
      if (e instanceof VcbError && e.code === 'HOST_COMMAND') return { unreadable: e.message };
      throw e;
    }
  }

  /**
   * `hassnapshot`, then the tree from the .vmsd. When hostd reports a snapshot the .vmsd does not show
   * (hostd did not write it, or it is gone), nobody can tell which snapshots the VM has: SNAPSHOT, with advice.
   */
  async listSnapshots(vm: VmRef): Promise<SnapshotInfo[]> {
    if (!(await this.hasSnapshot(vm))) return [];
    const vmsd = await this.readVmsd(vm);
    if ('snapshots' in vmsd && vmsd.snapshots.length > 0) return vmsd.snapshots;
    const path = vmsdPathOf(vm.vmxPath);
    const seen = 'snapshots' in vmsd ? `${path} lists none` : `${path} cannot be read (${vmsd.unreadable})`;
    throw new VcbError(
      'SNAPSHOT',
      `${vm.name}: hostd reports a snapshot (vmware-cmd hassnapshot says 1) but ${seen}: the VM's snapshot file is out of step with hostd, so ` +
        `which snapshots the VM has is not known, and ESX 3.x can only remove all of them at once; nothing was changed. Look at the VM's ` +
        `snapshots in the VI Client's Snapshot Manager and remove or keep them there, or restart hostd on the host (service mgmt-vmware restart) ` +
        `so that it rewrites the file, then run the backup again`,
      { vm: vm.name, command: stockCmd.cat(path) },
    );
  }

  /** hassnapshot must say 0 (else nothing tells the run's snapshot from the one there), and every disk chain must be readable. */
  async snapshotBaseline(vm: VmRef, listing?: readonly SnapshotInfo[]): Promise<SnapshotBaseline> {
    const has = listing ? listing.length > 0 : await this.hasSnapshot(vm);
    if (has) {
      throw new VcbError(
        'SNAPSHOT',
        `${vm.name} already has a snapshot (vmware-cmd hassnapshot says 1): ESX 3.x can only remove all of a VM's snapshots at once, so a backup ` +
          `snapshot could not be removed without it; nothing was created. Remove or consolidate the VM's snapshots first`,
        { vm: vm.name, command: vmwareCmd.hasSnapshot(vm.vmxPath) },
      );
    }
    let chains;
    try {
      chains = await readChainTops((path) => this.readFile(path), vm.vmxPath);
    } catch (e) {
      if (e instanceof VcbError && e.code !== 'HOST_COMMAND') throw e;
      throw new VcbError(
        'SNAPSHOT',
        `cannot read the disk chains of ${vm.name} (${(e as Error).message}): on ESX 3.x they are how the backup tells its own snapshot ` +
          `from any other when the .vmsd is out of step with hostd, so no snapshot was created; check that the .vmx and every disk descriptor it names can be read on the host`,
        { vm: vm.name, ...(e instanceof VcbError && e.context.command ? { command: e.context.command } : {}) },
        { cause: e },
      );
    }
    if (chains.length === 0) {
      throw new VcbError('SNAPSHOT', `${vm.name} has no disk a snapshot covers (every disk is independent or a physical RDM); no snapshot was created`, { vm: vm.name });
    }
    return { hassnapshot: 0, chains };
  }

  /** hassnapshot and the chains now, judged against what the run saw. */
  private async ownedState(vm: VmRef, owned: OwnedSnapshot): Promise<{ state: OwnedState; now: ChainTop[] }> {
    const has = await this.hasSnapshot(vm);
    const now = await readChainTops((path) => this.readFile(path), vm.vmxPath);
    return { state: judgeOwned(owned, has, now), now };
  }

  /**
   * The create is judged by hostd and the chains, not by the .vmsd, which hostd may have left stale: the
   * result carries that evidence (`owned`), and its id and time when the .vmsd does list it.
   */
  async createSnapshot(vm: VmRef, options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    const baseline = options.baseline ?? (await this.snapshotBaseline(vm, options.listing));
    const command = vmwareCmd.createSnapshot(vm.vmxPath, options.name, options.description, options.quiesce, options.memory);
    const output = await this.run(command, { failureCode: 'SNAPSHOT', ...timeout(options.timeoutMs) });
    if (!parseVmwareCmdSuccess(output, command)) {
      throw new VcbError('SNAPSHOT', `snapshot create on ${vm.name} refused: ${output.trim()}`, { vm: vm.name, command });
    }
    const { state, now } = await this.ownedState(vm, { baseline });
    if (state.kind !== 'ours') {
      const why = state.kind === 'absent' ? 'hassnapshot still says 0 and no disk chain grew' : state.why;
      throw new VcbError('SNAPSHOT', `snapshot create on ${vm.name}: the host reported success but ${why}`, { vm: vm.name, command });
    }
    const vmsd = await this.readVmsd(vm);
    const listed = 'snapshots' in vmsd ? vmsd.snapshots.filter((s) => s.name === options.name && s.description === options.description) : [];
    const info: SnapshotInfo = listed.length === 1 ? { ...listed[0]! } : { name: options.name, description: options.description, createdOn: '', depth: 0, path: [options.name] };
    info.owned = { baseline, created: now };
    return info;
  }

  /**
   * ESX 3.x has only removesnapshots. A snapshot recognised by evidence is removed only while that
   * evidence says it is the VM's one snapshot; any other only when the .vmsd lists no other.
   */
  removeSnapshot(vm: VmRef, snapshot: SnapshotInfo, options: RemoveSnapshotOptions = {}): Promise<'removed' | 'absent'> {
    if (snapshot.owned) return this.removeOwned(vm, snapshot, snapshot.owned, options);
    return this.removeSnapshotWith(
      vm,
      snapshot,
      options,
      (current, target) => {
        requireOnlySnapshot(current, target, vm.name, 'ESX 3.x can only remove all snapshots of a VM');
        return vmwareCmd.removeSnapshots(vm.vmxPath);
      },
      (output, command) => this.acceptRemoval(vm, output, command),
    );
  }

  private async removeOwned(vm: VmRef, snapshot: SnapshotInfo, owned: OwnedSnapshot, options: RemoveSnapshotOptions): Promise<'removed' | 'absent'> {
    const { state } = await this.ownedState(vm, owned);
    if (state.kind === 'absent') return 'absent';
    if (state.kind === 'unclear') {
      throw new VcbError(
        'SNAPSHOT',
        `refusing to remove snapshot ${describeSnapshot(snapshot)} of ${vm.name}: ${state.why}; ESX 3.x removes all of a VM's snapshots at once, ` +
          `so it is removed only while it is certainly the VM's only snapshot. Look at the VM's snapshots in the VI Client's Snapshot Manager and remove ${snapshot.name} there`,
        { vm: vm.name },
      );
    }
    const command = vmwareCmd.removeSnapshots(vm.vmxPath);
    this.acceptRemoval(vm, await this.run(command, { failureCode: 'SNAPSHOT', ...timeout(options.timeoutMs) }), command);
    const after = await this.ownedState(vm, owned);
    if (after.state.kind !== 'absent') {
      const why = after.state.kind === 'ours' ? 'hassnapshot still says 1 and the disks still run on its deltas' : after.state.why;
      throw new VcbError('SNAPSHOT', `snapshot ${describeSnapshot(snapshot)} of ${vm.name} is still there after removesnapshots: ${why}`, { vm: vm.name, command });
    }
    return 'removed';
  }

  private acceptRemoval(vm: VmRef, output: string, command: string[]): void {
    if (!parseVmwareCmdSuccess(output, command)) {
      throw new VcbError('SNAPSHOT', `snapshot removal on ${vm.name} refused: ${output.trim()}`, { vm: vm.name, command });
    }
  }

  /** Runs a vmware-cmd operation that answers `op(...) = 1`; anything else is the host's refusal. */
  private async runOperation(command: string[], what: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const output = await this.run(command, timeout(options.timeoutMs));
    if (!parseVmwareCmdSuccess(output, command)) {
      throw new VcbError('HOST_COMMAND', `${what} refused: ${output.trim()}`, { command });
    }
  }

  async registerVm(vmxPath: string, displayName: string): Promise<VmRef> {
    await this.runOperation(vmwareCmd.register(vmxPath), `registering ${vmxPath}`);
    const vm: VmRef = { id: vmxPath, name: displayName, vmxPath };
    const bracketPath = bracketPathOf(vmxPath);
    if (bracketPath !== undefined) vm.bracketPath = bracketPath;
    return vm;
  }

  async unregisterVm(vm: VmRef): Promise<void> {
    await this.runOperation(vmwareCmd.unregister(vm.vmxPath), `unregistering ${vm.name}`);
  }

}
