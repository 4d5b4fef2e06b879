// Parser for `vim-cmd vmsvc/get.summary <vmid>`: the fields a backup needs, plus the whole tree.

import { vimCmd } from '../commands/vim-cmd.js';
import { unexpectedOutput } from '../host-error.js';
import { powerStateFromApi, type PowerState } from './power-state.js';
import { isVimObject, parseVimDump, vimField, vimString, type VimObject, type VimValue } from './vim-object.js';

export interface VmSummary {
  name: string;
  powerState: PowerState;
  /** `[ds] dir/vm.vmx`. */
  vmPathName: string;
  /** BIOS uuid (`config.uuid`), the one vcbMounter's `uuid:` selects by. */
  biosUuid?: string;
  instanceUuid?: string;
  guestId?: string;
  guestFullName?: string;
  /** Only while Tools run in the guest. */
  ipAddress?: string;
  toolsRunningStatus?: string;
  toolsStatus?: string;
  /** From toolsRunningStatus, else toolsStatus; undefined when the host said neither. */
  toolsRunning?: boolean;
  /** runtime.consolidationNeeded (ESXi 5+): a snapshot removal left the VM running on deltas; absent on older builds. */
  consolidationNeeded?: boolean;
  /** The whole parsed `(vim.vm.Summary)` object. */
  raw: VimObject;
}

export function parseVmSummary(output: string, command: readonly string[] = vimCmd.getSummary('0')): VmSummary {
  const { value } = parseVimDump(output, command);
  if (!isVimObject(value) || (value.$type !== undefined && !/Summary$/.test(value.$type))) {
    throw unexpectedOutput(command, `expected a (vim.vm.Summary) object, got ${describeTop(value)}`);
  }
  const required = (path: string): string => {
    const found = vimString(value, path);
    if (found === undefined || found === '') throw unexpectedOutput(command, `summary has no ${path}`);
    return found;
  };
  const apiState = required('runtime.powerState');
  const powerState = powerStateFromApi(apiState);
  if (!powerState) throw unexpectedOutput(command, `unknown runtime.powerState ${JSON.stringify(apiState)}`);

  const optional = (...paths: string[]): string | undefined => {
    for (const path of paths) {
      const found = vimString(value, path);
      if (found !== undefined && found !== '') return found;
    }
    return undefined;
  };
  const summary: VmSummary = {
    name: required('config.name'),
    powerState,
    vmPathName: required('config.vmPathName'),
    raw: value,
  };
  const fields: Array<[keyof VmSummary, string[]]> = [
    ['biosUuid', ['config.uuid']],
    ['instanceUuid', ['config.instanceUuid']],
    ['guestId', ['config.guestId', 'guest.guestId']],
    ['guestFullName', ['config.guestFullName', 'guest.guestFullName']],
    ['ipAddress', ['guest.ipAddress']],
    ['toolsRunningStatus', ['guest.toolsRunningStatus']],
    ['toolsStatus', ['guest.toolsStatus']],
  ];
  for (const [key, paths] of fields) {
    const found = optional(...paths);
    if (found !== undefined) Object.assign(summary, { [key]: found });
  }
  const consolidation = vimField(value, 'runtime.consolidationNeeded');
  if (consolidation === true || consolidation === 'true') summary.consolidationNeeded = true;
  else if (consolidation === false || consolidation === 'false') summary.consolidationNeeded = false;
  else if (consolidation !== undefined && consolidation !== null) {
    throw unexpectedOutput(command, `runtime.consolidationNeeded is ${JSON.stringify(consolidation)}, not true or false`);
  }
  const tools = toolsRunning(summary.toolsRunningStatus, summary.toolsStatus);
  if (tools !== undefined) summary.toolsRunning = tools;
  return summary;
}

function toolsRunning(runningStatus: string | undefined, status: string | undefined): boolean | undefined {
  if (runningStatus !== undefined) return runningStatus === 'guestToolsRunning';
  if (status === undefined) return undefined;
  return status === 'toolsOk' || status === 'toolsOld';
}

function describeTop(value: VimValue): string {
  if (isVimObject(value)) return `(${value.$type ?? 'untyped'}) object`;
  return Array.isArray(value) ? 'an array' : JSON.stringify(value);
}
