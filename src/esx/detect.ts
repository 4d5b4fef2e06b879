// Chooses the command set a host speaks by running stock commands (exit 127 = not installed), and builds its driver.

import { VcbError } from '../errors.js';
import type { Transport } from '../transport/types.js';
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
  if (override) return override;
  const vimProbe = vimCmd.getAllVms();
  if ((await execOnHost(transport, vimProbe)).exitCode !== COMMAND_NOT_FOUND) return 'vim-cmd';
  const vmwareProbe = vmwareCmd.list();
  if ((await execOnHost(transport, vmwareProbe)).exitCode !== COMMAND_NOT_FOUND) return 'vmware-cmd';
  throw new VcbError('HOST_COMMAND', 'the host has neither vim-cmd nor vmware-cmd (both exited 127: not found)', {
    command: vmwareProbe,
  });
}

export function esxHostFor(transport: Transport, commandSet: CommandSet): EsxHost {
  return commandSet === 'vim-cmd' ? new VimCmdHost(transport) : new VmwareCmdHost(transport);
}

export async function connectEsxHost(transport: Transport, override?: CommandSet): Promise<EsxHost> {
  return esxHostFor(transport, await detectCommandSet(transport, override));
}
