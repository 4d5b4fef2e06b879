// Runs one host command through the transport and turns every kind of failure into a VcbError naming the argv.

import { VcbError, type ErrorCode } from '../errors.js';
import { TransportError, type ExecResult, type Transport } from '../transport/types.js';
import { describeCommand, hostCommandFailed } from './host-error.js';
import { findVmControlError } from './parse/vmware-cmd.js';
import { describeVimFault, findVimFault } from './parse/vim-fault.js';
import { hostFailureKind } from './parse/failure-kind.js';

export interface RunOptions {
  timeoutMs?: number;
  /** Code for failures the host reports (default HOST_COMMAND), e.g. SNAPSHOT. */
  failureCode?: ErrorCode;
}

export const COMMAND_NOT_FOUND = 127;

/** Commands whose fault blocks or VMControl errors mean failure even with exit status 0 (a cat of a log may print either). */
const MANAGEMENT_COMMANDS = new Set(['vim-cmd', 'vmware-vim-cmd', 'vmware-cmd']);

function transportFailure(command: readonly string[], err: TransportError): VcbError {
  const codes: Record<TransportError['code'], ErrorCode> = {
    AUTH: 'CONNECT',
    CONNECT: 'CONNECT',
    SOCKET: 'CONNECT',
    HOST_KEY: 'HOST_KEY',
    ABORTED: 'INTERRUPTED',
    TIMEOUT: 'HOST_COMMAND',
  };
  const why = err.code === 'TIMEOUT' ? `timed out (${err.message})` : err.message;
  return new VcbError(codes[err.code], `${describeCommand(command)}: ${why}`, { command: [...command] }, { cause: err });
}

/** The host's own words for a failure: a fault msg, a VMControl error, else the last lines of stderr/stdout. */
export function hostMessage(result: ExecResult): string {
  const combined = `${result.stdout}\n${result.stderr}`;
  const fault = findVimFault(combined);
  if (fault) return describeVimFault(fault);
  const vmControl = findVmControlError(combined);
  if (vmControl) return `VMControl error -${vmControl.code}: ${vmControl.message}`;
  const text = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' / ');
  return text ? `exit status ${result.exitCode}: ${text}` : `exit status ${result.exitCode}`;
}

/** Raw result, transport errors mapped; a non-zero exit is returned, not thrown. */
export async function execOnHost(
  transport: Transport,
  command: readonly string[],
  options: RunOptions = {},
): Promise<ExecResult> {
  try {
    return await transport.exec(command, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  } catch (err) {
    if (err instanceof TransportError) throw transportFailure(command, err);
    throw err;
  }
}

/** Runs the command and returns stdout; throws on a non-zero exit, or a fault block / VMControl error from vim-cmd or vmware-cmd. */
export async function runOnHost(transport: Transport, command: readonly string[], options: RunOptions = {}): Promise<string> {
  return checkHostResult(command, await execOnHost(transport, command, options), options);
}

/** runOnHost's verdict on a command's result: its stdout, or the error runOnHost would throw. */
export function checkHostResult(command: readonly string[], result: ExecResult, options: Pick<RunOptions, 'failureCode'> = {}): string {
  const code = options.failureCode ?? 'HOST_COMMAND';
  if (result.exitCode === COMMAND_NOT_FOUND) {
    throw hostCommandFailed(command, `command not found on the host (${hostMessage(result)})`, code);
  }
  const combined = `${result.stdout}\n${result.stderr}`;
  const printedFailure = MANAGEMENT_COMMANDS.has(command[0] ?? '') && (findVimFault(combined) || findVmControlError(combined));
  if (result.exitCode !== 0 || printedFailure) {
    // Classified here, where the host's answer is parsed: callers act on the code, never on message text.
    const kind = hostFailureKind(result);
    throw hostCommandFailed(command, hostMessage(result), kind === 'quiesce' ? 'QUIESCE' : kind === 'datastore-full' ? 'DATASTORE_FULL' : code);
  }
  return result.stdout;
}

/** Spreads an optional timeout into RunOptions without writing `timeoutMs: undefined`. */
export function timeout(timeoutMs: number | undefined): { timeoutMs?: number } {
  return timeoutMs === undefined ? {} : { timeoutMs };
}
