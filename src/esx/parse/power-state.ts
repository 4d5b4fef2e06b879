// Parser for `vim-cmd vmsvc/power.getstate <vmid>` and the power-state words both command sets use.

import { vimCmd } from '../commands/vim-cmd.js';
import { unexpectedOutput } from '../host-error.js';
import { nonBlankLines } from './lines.js';

/** `stuck` is ESX 3.x's state for a VM waiting on a question. */
export type PowerState = 'on' | 'off' | 'suspended' | 'stuck';

const VIM_CMD_STATES: Record<string, PowerState> = {
  'powered on': 'on',
  'powered off': 'off',
  suspended: 'suspended',
};

/** The API's enum as printed in get.summary (`poweredOn`, `poweredOff`, `suspended`). */
export function powerStateFromApi(value: string): PowerState | undefined {
  return ({ poweredon: 'on', poweredoff: 'off', suspended: 'suspended' } as Record<string, PowerState>)[
    value.toLowerCase()
  ];
}

export function parsePowerGetState(output: string, command: readonly string[] = vimCmd.powerGetState('0')): PowerState {
  let state: PowerState | undefined;
  for (const line of nonBlankLines(output)) {
    const text = line.text.trim().replace(/\s+/g, ' ').toLowerCase();
    if (text === 'retrieved runtime info') continue;
    const found = VIM_CMD_STATES[text];
    if (!found) throw unexpectedOutput(command, 'not a power state', line);
    if (state !== undefined) throw unexpectedOutput(command, 'more than one power state', line);
    state = found;
  }
  if (state === undefined) throw unexpectedOutput(command, 'no power state printed');
  return state;
}
