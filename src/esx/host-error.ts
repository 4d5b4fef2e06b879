// Builds the VcbError a host command raises: the exact argv, what went wrong, and the host's own words.

import { VcbError, type ErrorCode } from '../errors.js';

export function describeCommand(command: readonly string[]): string {
  return command.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ');
}

/** A host command printed something this parser cannot accept; names the command, the line number and the line. */
export function unexpectedOutput(
  command: readonly string[],
  why: string,
  line?: { number: number; text: string },
): VcbError {
  const where = line ? ` at line ${line.number}: ${JSON.stringify(line.text)}` : '';
  return new VcbError('HOST_COMMAND', `${describeCommand(command)}: unexpected output (${why})${where}`, {
    command: [...command],
  });
}

/** A host command failed; `hostMessage` is what the host said (fault msg, VMControl error, stderr). */
export function hostCommandFailed(
  command: readonly string[],
  hostMessage: string,
  code: ErrorCode = 'HOST_COMMAND',
  options?: { cause?: unknown; shown?: string },
): VcbError {
  const { shown, ...rest } = options ?? {};
  return new VcbError(code, `${shown ?? describeCommand(command)} failed: ${hostMessage}`, { command: [...command] }, rest);
}
