// Finds a vim-cmd fault block `(vim.fault.X) { ... msg = "..." }` in a command's output.

import { VcbError } from '../../errors.js';
import { parseVimDump, vimString } from './vim-object.js';

export interface VimFault {
  /** Full type, e.g. `vim.fault.InvalidPowerState`. */
  type: string;
  /** Last segment, e.g. `InvalidPowerState`. */
  name: string;
  /** The host's message (`msg`, else the first localized message); '' when none. */
  message: string;
  /** Text lines before the block, e.g. `Power on failed`. */
  preamble: string[];
}

const FAULT_START = /^\s*\(((?:[\w]+\.)*(?:fault\.\w+|\w*Fault))\)\s*\{/m;

export function findVimFault(output: string): VimFault | undefined {
  const text = output.replace(/\r\n?/g, '\n');
  const match = FAULT_START.exec(text);
  if (!match) return undefined;
  const type = match[1]!;
  const before = text.slice(0, match.index);
  const block = text.slice(match.index);
  const preamble = before.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let message: string | undefined;
  try {
    const { value } = parseVimDump(block, []);
    message = vimString(value, 'msg') ?? localizedMessage(block);
  } catch (err) {
    if (!(err instanceof VcbError)) throw err;
    message = /\bmsg\s*=\s*"(.*)"\s*,?\s*$/m.exec(block)?.[1] ?? localizedMessage(block);
  }
  return { type, name: type.split('.').pop()!, message: message ?? '', preamble };
}

function localizedMessage(block: string): string | undefined {
  return /\bmessage\s*=\s*"(.*)"\s*,?\s*$/m.exec(block)?.[1];
}

/** One line for an error message: `InvalidPowerState: The attempted operation ...`. */
export function describeVimFault(fault: VimFault): string {
  const text = fault.message || fault.preamble.join(' ');
  return text ? `${fault.name}: ${text}` : fault.name;
}
