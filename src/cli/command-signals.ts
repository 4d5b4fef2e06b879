// Signals for a command that holds resources: the first one unwinds the run; a second one (or the grace period
// running out) exits at once, naming what the run still holds and the command that releases it.

import { installSignalHandlers, leftBehindAdvice, signalExitCode, type SignalHandlers } from '../engine/index.js';
import type { CliIO } from './io.js';

export interface CommandSignals extends SignalHandlers {
  /** Takes the run's list of what it holds right now (the job's onHolding). */
  holding(list: () => string[]): void;
}

export interface ForcedExitText {
  /** The command line that releases what a forced exit leaves behind. */
  release: string;
  /** Anything else still running that the message should name (`; still running: …`), or ''. */
  stillRunning?: () => string;
}

export function installCommandSignals(io: CliIO, text: ForcedExitText): CommandSignals {
  let held: () => string[] = () => [];
  const handlers = installSignalHandlers({
    print: (line) => io.stderr.write(`${line}\n`),
    onForce: (reason) => {
      const left = held();
      const hint = left.length ? `; ${leftBehindAdvice(left.join(', '), text.release)}` : '';
      io.stderr.write(`vcbmounter: forced exit during cleanup${hint}${text.stillRunning?.() ?? ''}\n`);
      process.exit(signalExitCode(reason === 'grace-expired' ? (handlers.received ?? 'SIGINT') : reason));
    },
  });
  return Object.assign(handlers, {
    holding(list: () => string[]) {
      held = list;
    },
  });
}
