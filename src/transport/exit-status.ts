// Turning an SSH exit-status or exit-signal into one exit code, the way a shell reports it.

import { constants } from 'node:os';

/**
 * A normal exit keeps its code. A command killed by a signal gets 128 + the signal number
 * (as sh reports it: KILL → 137, TERM → 143); an unknown signal name, or no status at all
 * (the host closed the channel without saying), gives -1.
 */
export function exitCodeOf(code: number | null | undefined, signalName: string | undefined): number {
  if (typeof code === 'number') return code;
  if (!signalName) return -1;
  const name = (signalName.startsWith('SIG') ? signalName : `SIG${signalName}`) as keyof typeof constants.signals;
  const number = constants.signals[name];
  return typeof number === 'number' ? 128 + number : -1;
}
