// Turns SIGINT/SIGTERM/SIGHUP into an orderly abort of the run, and a second signal into a forced exit.

import { VcbError } from '../errors.js';

export type HandledSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

const HANDLED: readonly HandledSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export const INTERRUPT_MESSAGE = 'interrupted: cleaning up (press Ctrl-C again to force exit)';

export interface SignalHandlerOptions {
  /** Prints a line for the person at the terminal (the CLI passes a stderr writer). */
  print: (line: string) => void;
  /** Called once, after the run's signal is aborted by the first signal. */
  onFirst?: (signal: HandledSignal) => void;
  /**
   * Called on a second signal, or when cleanup is still running graceMs after the first; the CLI
   * exits with the interrupt code there, leaving the journal for `vcbmounter cleanup`.
   */
  onForce: (reason: HandledSignal | 'grace-expired') => void;
  /** How long cleanup may run after the first signal before onForce (default: unbounded). */
  graceMs?: number;
}

export interface SignalHandlers {
  /** The run's signal: aborted (reason a VcbError INTERRUPTED) on the first signal. */
  readonly signal: AbortSignal;
  /** The first signal received, if any. */
  readonly received: HandledSignal | undefined;
  /** Removes the handlers and the grace timer; the process's default signal behaviour returns. */
  dispose(): void;
}

/** Shell convention for a run ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129). */
export function signalExitCode(signal: HandledSignal): number {
  return { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 }[signal];
}

/**
 * Installs handlers for SIGINT, SIGTERM and SIGHUP (a dropped SSH session sends SIGHUP). Rules:
 * the first signal aborts `signal`, prints INTERRUPT_MESSAGE and calls onFirst; any later signal
 * calls onForce. Nothing here exits the process: the caller decides. Call dispose() when the run
 * is over.
 */
export function installSignalHandlers(opts: SignalHandlerOptions): SignalHandlers {
  const controller = new AbortController();
  let received: HandledSignal | undefined;
  let graceTimer: NodeJS.Timeout | undefined;

  const handler = (signal: HandledSignal): void => {
    if (received) {
      opts.onForce(signal);
      return;
    }
    received = signal;
    controller.abort(new VcbError('INTERRUPTED', `interrupted by ${signal}`));
    opts.print(INTERRUPT_MESSAGE);
    if (opts.graceMs !== undefined) {
      graceTimer = setTimeout(() => opts.onForce('grace-expired'), opts.graceMs);
      graceTimer.unref();
    }
    opts.onFirst?.(signal);
  };
  for (const s of HANDLED) process.on(s, handler);

  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      for (const s of HANDLED) process.off(s, handler);
      if (graceTimer) clearTimeout(graceTimer);
    },
  };
}
