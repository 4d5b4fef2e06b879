// A command's outcome (exit code, logger) and its logger started from the -L, --json and --log-file flags.

import { VcbError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';

/** What a command tells main's run() (the same shape as its RunOutcome): the exit code and the logger for its error path. */
export interface CommandOutcome {
  exitCode: number;
  log?: Logger;
}

/** Logs go to stderr (or --log-file): stdout carries only what a script reads. Level 2 (errors) by default keeps stderr quiet in cron. */
export function startCommandLog(flags: Record<string, unknown>, outcome: CommandOutcome): Logger {
  const level = Number(flags.logLevel ?? 2);
  if (!Number.isInteger(level) || level < 0 || level > 6) throw new VcbError('USAGE', `-L ${String(flags.logLevel)}: expected a level from 0 (quiet) to 6 (most verbose)`);
  outcome.log = createLogger({ level, json: Boolean(flags.json), file: flags.logFile as string | undefined });
  return outcome.log;
}
