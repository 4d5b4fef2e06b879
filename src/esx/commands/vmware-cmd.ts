// argv builders for ESX 3.x's vmware-cmd; pure, one array element per argument, VM addressed by its .vmx path.

import { flag, requireAbsolutePath } from './validate.js';

const VMWARE_CMD = 'vmware-cmd';

export type StopMode = 'soft' | 'hard' | 'trysoft';

const onVm = (vmxPath: string, ...rest: string[]): string[] => [VMWARE_CMD, requireAbsolutePath(vmxPath), ...rest];

export const vmwareCmd = {
  list: (): string[] => [VMWARE_CMD, '-l'],
  getState: (vmxPath: string): string[] => onVm(vmxPath, 'getstate'),
  getConfig: (vmxPath: string, key: string): string[] => onVm(vmxPath, 'getconfig', key),
  getGuestInfo: (vmxPath: string, variable: string): string[] => onVm(vmxPath, 'getguestinfo', variable),
  getHeartbeat: (vmxPath: string): string[] => onVm(vmxPath, 'getheartbeat'),
  start: (vmxPath: string): string[] => onVm(vmxPath, 'start'),
  stop: (vmxPath: string, mode: StopMode): string[] => onVm(vmxPath, 'stop', mode),
  /** Host order: name, description, quiesce, memory (the reverse of vim-cmd's flag order). */
  createSnapshot: (vmxPath: string, name: string, description: string, quiesce: boolean, memory: boolean): string[] =>
    onVm(vmxPath, 'createsnapshot', name, description, flag(quiesce), flag(memory)),
  hasSnapshot: (vmxPath: string): string[] => onVm(vmxPath, 'hassnapshot'),
  removeSnapshots: (vmxPath: string): string[] => onVm(vmxPath, 'removesnapshots'),
  register: (vmxPath: string): string[] => [VMWARE_CMD, '-s', 'register', requireAbsolutePath(vmxPath)],
  unregister: (vmxPath: string): string[] => [VMWARE_CMD, '-s', 'unregister', requireAbsolutePath(vmxPath)],
};
