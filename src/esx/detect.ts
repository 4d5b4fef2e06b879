// Chooses the command set a host speaks by running stock commands (exit 127 = not installed), and builds its driver.

import { VcbError } from '../errors.js';
import type { ExecResult, Transport } from '../transport/types.js';
import type { StockCommandsHost } from './stock-host.js';
import { vimCmd } from './commands/vim-cmd.js';
import { vmwareCmd } from './commands/vmware-cmd.js';
import { COMMAND_NOT_FOUND, execOnHost } from './run.js';
import type { CommandSet, EsxHost } from './types.js';
import { VimCmdHost } from './vimcmd-driver.js';
import { VmwareCmdHost } from './vmwarecmd-driver.js';

/**
 * vim-cmd when the host has it (ESXi, and ESX 4 which has both), else vmware-cmd (ESX 3.x).
 * Read-only probes; safe to retry. `override` skips probing.
 */
export async function detectCommandSet(transport: Transport, override?: CommandSet): Promise<CommandSet> {
  return override ?? (await probe(transport)).commandSet;
}

/** The probes list the host's VMs; the one that answered is returned with its result. */
async function probe(transport: Transport): Promise<{ commandSet: CommandSet; command: string[]; result: ExecResult }> {
  const vimProbe = vimCmd.getAllVms();
  const vim = await execOnHost(transport, vimProbe);
  if (vim.exitCode !== COMMAND_NOT_FOUND) return { commandSet: 'vim-cmd', command: vimProbe, result: vim };
  const vmwareProbe = vmwareCmd.list();
  const vmware = await execOnHost(transport, vmwareProbe);
  if (vmware.exitCode !== COMMAND_NOT_FOUND) return { commandSet: 'vmware-cmd', command: vmwareProbe, result: vmware };
  throw new VcbError('HOST_COMMAND', 'the host has neither vim-cmd nor vmware-cmd (both exited 127: not found)', {
    command: vmwareProbe,
  });
}

export function esxHostFor(transport: Transport, commandSet: CommandSet): EsxHost & StockCommandsHost {
  return commandSet === 'vim-cmd' ? new VimCmdHost(transport) : new VmwareCmdHost(transport);
}

/**
 * The driver for the host's command set. The probe's VM listing is handed to the driver, so finding the VM
 * right after does not list them again (on a real host each vim-cmd call takes about a second).
 */
export async function connectEsxHost(transport: Transport, override?: CommandSet): Promise<EsxHost> {
  if (override) return esxHostFor(transport, override);
  const found = await probe(transport);
  const host = esxHostFor(transport, found.commandSet);
  host.primeResult(found.command, found.result);
  return host;
}
