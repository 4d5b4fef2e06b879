// argv builders for ESXi's vim-cmd (vmsvc/*, solo/*, hostsvc/*); pure, one array element per argument.

import { flag, requireAbsolutePath, requireVmid } from './validate.js';

const VIM_CMD = 'vim-cmd';

export const vimCmd = {
  getAllVms: (): string[] => [VIM_CMD, 'vmsvc/getallvms'],
  powerGetState: (vmid: string): string[] => [VIM_CMD, 'vmsvc/power.getstate', requireVmid(vmid)],
  powerOn: (vmid: string): string[] => [VIM_CMD, 'vmsvc/power.on', requireVmid(vmid)],
  powerOff: (vmid: string): string[] => [VIM_CMD, 'vmsvc/power.off', requireVmid(vmid)],
  powerShutdown: (vmid: string): string[] => [VIM_CMD, 'vmsvc/power.shutdown', requireVmid(vmid)],
  getSummary: (vmid: string): string[] => [VIM_CMD, 'vmsvc/get.summary', requireVmid(vmid)],
  snapshotGet: (vmid: string): string[] => [VIM_CMD, 'vmsvc/snapshot.get', requireVmid(vmid)],
  /** Host order: name, description, includeMemory, quiesced. */
  snapshotCreate: (vmid: string, name: string, description: string, memory: boolean, quiesce: boolean): string[] => [
    VIM_CMD,
    'vmsvc/snapshot.create',
    requireVmid(vmid),
    name,
    description,
    flag(memory),
    flag(quiesce),
  ],
  /** With an id: removes that snapshot. Without (older builds): the host's default, the current snapshot. */
  snapshotRemove: (vmid: string, snapshotId?: string): string[] =>
    snapshotId === undefined
      ? [VIM_CMD, 'vmsvc/snapshot.remove', requireVmid(vmid)]
      : [VIM_CMD, 'vmsvc/snapshot.remove', requireVmid(vmid), requireVmid(snapshotId)],
  snapshotRemoveAll: (vmid: string): string[] => [VIM_CMD, 'vmsvc/snapshot.removeall', requireVmid(vmid)],
  /** ESXi 5+: merges the deltas a snapshot removal left (the VM's consolidationNeeded). */
  snapshotConsolidate: (vmid: string): string[] => [VIM_CMD, 'vmsvc/snapshot.consolidate', requireVmid(vmid)],
  registerVm: (vmxPath: string): string[] => [VIM_CMD, 'solo/registervm', requireAbsolutePath(vmxPath)],
  unregister: (vmid: string): string[] => [VIM_CMD, 'vmsvc/unregister', requireVmid(vmid)],
  datastoreInfo: (datastore: string): string[] => [VIM_CMD, 'hostsvc/datastore/info', datastore],
};
