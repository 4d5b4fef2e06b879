// EsxHost over ESX 3.x's vmware-cmd; names and snapshots come from the .vmx and .vmsd files (read with cat).

import { VcbError } from '../errors.js';
import { stockCmd } from './commands/stock.js';
import { StockCommandsHost } from './stock-host.js';
import { vmwareCmd } from './commands/vmware-cmd.js';
import { formatBracketPath, splitVmfsPath } from './datastore-path.js';
import type { SnapshotInfo } from './parse/snapshot-tree.js';
import { parseVmsd } from './parse/vmsd.js';
import { parseVmx } from './parse/vmx.js';
import {
  parseVmwareCmdList,
  parseVmwareCmdResult,
  parseVmwareCmdState,
  parseVmwareCmdSuccess,
} from './parse/vmware-cmd.js';
import { execOnHost } from './run.js';
import { requireOnlySnapshot } from './snapshot-steps.js';
import type {
  CreateSnapshotOptions,
  EsxHost,
  RemoveSnapshotOptions,
  VmInfo,
  VmRef,
} from './types.js';

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

  /** `hassnapshot`, then the tree from the .vmsd; the two must agree. */
  async listSnapshots(vm: VmRef): Promise<SnapshotInfo[]> {
    const hasCommand = vmwareCmd.hasSnapshot(vm.vmxPath);
    const has = parseVmwareCmdSuccess(await this.run(hasCommand), hasCommand);
    if (!has) return [];
    const readCommand = stockCmd.cat(vmsdPathOf(vm.vmxPath));
    const snapshots = parseVmsd(await this.run(readCommand), readCommand);
    if (snapshots.length === 0) {
      throw new VcbError('HOST_COMMAND', `${vm.name}: hassnapshot says 1 but ${vmsdPathOf(vm.vmxPath)} lists none`, {
        vm: vm.name,
        command: readCommand,
      });
    }
    return snapshots;
  }

  createSnapshot(vm: VmRef, options: CreateSnapshotOptions): Promise<SnapshotInfo> {
    const command = vmwareCmd.createSnapshot(vm.vmxPath, options.name, options.description, options.quiesce, options.memory);
    return this.createSnapshotWith(vm, options, command, (output) => {
      if (!parseVmwareCmdSuccess(output, command)) {
        throw new VcbError('SNAPSHOT', `snapshot create on ${vm.name} refused: ${output.trim()}`, { vm: vm.name, command });
      }
    });
  }

  /** ESX 3.x has only removesnapshots: refused unless the target is the VM's only snapshot. */
  removeSnapshot(vm: VmRef, snapshot: SnapshotInfo, options: RemoveSnapshotOptions = {}): Promise<'removed' | 'absent'> {
    return this.removeSnapshotWith(
      vm,
      snapshot,
      options,
      (current, target) => {
        requireOnlySnapshot(current, target, vm.name, 'ESX 3.x can only remove all snapshots of a VM');
        return vmwareCmd.removeSnapshots(vm.vmxPath);
      },
      (output, command) => {
        if (!parseVmwareCmdSuccess(output, command)) {
          throw new VcbError('SNAPSHOT', `snapshot removal on ${vm.name} refused: ${output.trim()}`, { vm: vm.name, command });
        }
      },
    );
  }
}
