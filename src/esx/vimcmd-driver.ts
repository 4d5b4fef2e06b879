// EsxHost over ESXi's vim-cmd (vmsvc/*), with vmkfstools and cat for disks and files.

import { StockCommandsHost } from './stock-host.js';
import { vimCmd } from './commands/vim-cmd.js';
import { bracketToVmfsPath } from './datastore-path.js';
import { parseGetAllVms } from './parse/getallvms.js';
import { parseSnapshotGet } from './parse/snapshot-tree.js';
import { parseVmSummary } from './parse/vm-summary.js';
import { requireOnlySnapshot } from './snapshot-steps.js';
import { checkHostResult, execOnHost, timeout } from './run.js';
import { parsePowerGetState } from './parse/power-state.js';
import { findVimFault } from './parse/vim-fault.js';
import { unexpectedOutput } from './host-error.js';
import type {
  CreateSnapshotOptions,
  EsxHost,
  GuestHeartbeat,
  PowerState,
  RemoveSnapshotOptions,
  ShutdownAnswer,
  SnapshotInfo,
  VmInfo,
  VmRef,
} from './types.js';

/** Fault types hostd answers a guest shutdown with when VMware Tools do not run in the guest. */
const NO_TOOLS_FAULTS = new Set(['ToolsUnavailable', 'ToolsUnavailableFault']);

export class VimCmdHost extends StockCommandsHost implements EsxHost {
  readonly commandSet = 'vim-cmd' as const;

  async listVms(): Promise<VmRef[]> {
    const command = vimCmd.getAllVms();
    const { vms } = parseGetAllVms(await this.run(command), command);
    return vms.map((vm) => ({
      id: vm.vmid,
      name: vm.name,
      vmxPath: bracketToVmfsPath(vm.bracketPath),
      bracketPath: vm.bracketPath,
      guestOs: vm.guestOs,
    }));
  }

  async getVmInfo(vm: VmRef): Promise<VmInfo> {
    const command = vimCmd.getSummary(vm.id);
    const summary = parseVmSummary(await this.run(command), command);
    const info: VmInfo = {
      name: summary.name,
      powerState: summary.powerState,
      vmxPath: bracketToVmfsPath(summary.vmPathName),
    };
    if (summary.biosUuid !== undefined) info.biosUuid = summary.biosUuid;
    if (summary.ipAddress !== undefined) info.ipAddress = summary.ipAddress;
    if (summary.toolsRunning !== undefined) info.toolsRunning = summary.toolsRunning;
    if (summary.guestFullName !== undefined) info.guestFullName = summary.guestFullName;
    return info;
  }

  /** hostd sets toolsRunningStatus from the Tools' heartbeat: guestToolsRunning once the guest's Tools report in. */
  async guestHeartbeat(vm: VmRef): Promise<GuestHeartbeat> {
    const command = vimCmd.getSummary(vm.id);
    const summary = parseVmSummary(await this.run(command), command);
    const said = [
      `toolsRunningStatus = ${summary.toolsRunningStatus ?? '(none)'}`,
      ...(summary.toolsStatus !== undefined ? [`toolsStatus = ${summary.toolsStatus}`] : []),
      ...(summary.ipAddress !== undefined ? [`ipAddress = ${summary.ipAddress}`] : []),
    ];
    return { beating: summary.powerState === 'on' && summary.toolsRunning === true, evidence: said.join(', ') };
  }

  async powerState(vm: VmRef): Promise<PowerState> {
    const command = vimCmd.powerGetState(vm.id);
    return parsePowerGetState(await this.run(command), command);
  }

  /** `power.shutdown` is not a hostd task: it answers once the guest was told, and the guest shuts down in its own time. */
  async shutdownGuest(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<ShutdownAnswer> {
    const command = vimCmd.powerShutdown(vm.id);
    const result = await execOnHost(this.transport, command, timeout(options.timeoutMs));
    const fault = findVimFault(`${result.stdout}\n${result.stderr}`);
    if (fault && NO_TOOLS_FAULTS.has(fault.name)) return 'no-tools';
    checkHostResult(command, result, { failureCode: 'POWER' });
    return 'requested';
  }

  async powerOff(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.run(vimCmd.powerOff(vm.id), { failureCode: 'POWER', ...timeout(options.timeoutMs) });
  }

  async powerOn(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.run(vimCmd.powerOn(vm.id), { failureCode: 'POWER', ...timeout(options.timeoutMs) });
  }

  async listSnapshots(vm: VmRef): Promise<SnapshotInfo[]> {
    const command = vimCmd.snapshotGet(vm.id);
    return parseSnapshotGet(await this.run(command), command);
  }

  async consolidationNeeded(vm: VmRef): Promise<boolean | undefined> {
    const command = vimCmd.getSummary(vm.id);
    return parseVmSummary(await this.run(command), command).consolidationNeeded;
  }

  async consolidateDisks(vm: VmRef, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.run(vimCmd.snapshotConsolidate(vm.id), { failureCode: 'SNAPSHOT', ...timeout(options.timeoutMs) });
  }

  /** vim-cmd lists every snapshot hostd has, with ids: the listing itself tells the run's snapshot apart. */
  snapshotBaseline(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  createSnapshot(vm: VmRef, options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    return this.createSnapshotWith(vm, options, vimCmd.snapshotCreate(vm.id, options.name, options.description, options.memory, options.quiesce));
  }

  removeSnapshot(vm: VmRef, snapshot: SnapshotInfo, options: RemoveSnapshotOptions = {}): Promise<'removed' | 'absent'> {
    return this.removeSnapshotWith(vm, snapshot, options, (current, target) => {
      if (target.id !== undefined) return vimCmd.snapshotRemove(vm.id, target.id);
      requireOnlySnapshot(current, target, vm.name, 'this host prints no snapshot ids');
      return vimCmd.snapshotRemoveAll(vm.id);
    });
  }

  async registerVm(vmxPath: string, displayName: string): Promise<VmRef> {
    const command = vimCmd.registerVm(vmxPath);
    const output = await this.run(command);
    const vmid = /^\s*(\d+)\s*$/m.exec(output)?.[1];
    if (vmid === undefined) throw unexpectedOutput(command, 'no vmid printed');
    return { id: vmid, name: displayName, vmxPath };
  }

  async unregisterVm(vm: VmRef): Promise<void> {
    await this.run(vimCmd.unregister(vm.id));
  }

}
