// What every vcbmounter command line shares: the commander program it starts from, and how a parse that threw ends (message, JSON error, exit code).

import { Command, CommanderError } from 'commander';
import { INTERRUPT_MESSAGE, signalExitCode, type HandledSignal } from '../engine/signals.js';
import type { Logger } from '../log.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { errorText, toVcbError, usageErrorText } from './messages.js';
import type { CliIO } from './io.js';

/** What the commands' actions tell run() after they return or throw. */
export interface RunOutcome {
  exitCode: number;
  log?: Logger;
  interruptedBy?: HandledSignal;
}

/** The program the commands are registered on: errors come back as exceptions, output goes to io. */
export function newProgram(io: CliIO): Command {
  return new Command('vcbmounter')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: (s, write) => write(usageErrorText(s)) })
    .helpOption('--help', 'show this help (-h is the host, as in vcbMounter)');
}

/** Parses argv and runs the command it names; returns the exit code, for a failure too (its message written to io). */
export async function parseAndRun(program: Command, argv: string[], io: CliIO, outcome: RunOutcome): Promise<number> {
  try {
    await program.parseAsync(argv, { from: 'user' });
    return outcome.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    const err = toVcbError(e);
    if (err.code === 'INTERRUPTED') io.stderr.write(`${INTERRUPT_MESSAGE.split(':')[0]}: ${err.message}\n`);
    else io.stderr.write(errorText(err));
    outcome.log?.debug({ err: { code: err.code, message: err.message, context: err.context } }, 'run failed');
    if (argv.includes('--json')) {
      io.stdout.write(JSON.stringify({ ok: false, error: { code: err.code, message: err.message, ...err.context } }) + '\n');
    }
    if (err.code === 'INTERRUPTED' && outcome.interruptedBy) return signalExitCode(outcome.interruptedBy);
    return exitCodeFor(err.code);
  }
}
