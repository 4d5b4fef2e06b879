// Parsers for ESX 3.x vmware-cmd: `op(args) = value` results, `VMControl error -N: ...`, and `-l` listings.

import { vmwareCmd } from '../commands/vmware-cmd.js';
import { hostCommandFailed, unexpectedOutput } from '../host-error.js';
import { nonBlankLines } from './lines.js';
import type { PowerState } from './power-state.js';

export interface VmControlError {
  /** The positive number of `VMControl error -N`. */
  code: number;
  message: string;
}

const VMCONTROL_ERROR = /VMControl error\s+-?(\d+)\s*:\s*(.*)$/m;

export function findVmControlError(text: string): VmControlError | undefined {
  const m = VMCONTROL_ERROR.exec(text.replace(/\r\n?/g, '\n'));
  return m ? { code: Number(m[1]), message: m[2]!.trim() } : undefined;
}

function rest0IsQuiet(command: readonly string[]): boolean {
  return command[1] === '-q';
}

/** The operation name in a vmware-cmd argv: the word after the .vmx path (or after -s). */
function operationOf(command: readonly string[]): { op: string; args: readonly string[] } {
  const rest = command.slice(rest0IsQuiet(command) ? 2 : 1);
  const opIndex = 1;
  return { op: rest[opIndex] ?? '', args: rest.slice(opIndex + 1) };
}

/**
 * The value of `op(args) = value` for the command that ran. A VMControl error anywhere in the
 * output becomes a HOST_COMMAND error with the host's message; any other extra line is an error.
 */
export function parseVmwareCmdResult(output: string, command: readonly string[]): string {
  const vmControl = findVmControlError(output);
  if (vmControl) throw hostCommandFailed(command, `VMControl error -${vmControl.code}: ${vmControl.message}`);
  const { op, args } = operationOf(command);
  const lines = nonBlankLines(output);
  if (lines.length === 0) throw unexpectedOutput(command, `no "${op}(...) = value" line`);
  if (lines.length > 1) throw unexpectedOutput(command, 'more than one result line', lines[1]);
  const line = lines[0]!;
  const text = line.text.trim();
  const exactPrefix = `${op}(${args.join(' ')})`;
  if (text.startsWith(exactPrefix)) {
    const after = /^\s*=\s?(.*)$/.exec(text.slice(exactPrefix.length));
    if (after) return after[1]!.trim();
  }
  const loose = /^(\w+)\((.*)\)\s*=\s?(.*)$/.exec(text);
  if (!loose || loose[1]!.toLowerCase() !== op.toLowerCase()) {
    throw unexpectedOutput(command, `expected "${op}(...) = value"`, line);
  }
  return loose[3]!.trim();
}

/** `= 1` or `= success` is success; `= 0` is a refusal. */
export function parseVmwareCmdSuccess(output: string, command: readonly string[]): boolean {
  const value = parseVmwareCmdResult(output, command).toLowerCase();
  if (value === '1' || value === 'success' || value === 'true') return true;
  if (value === '0' || value === 'failure' || value === 'false') return false;
  throw unexpectedOutput(command, `not a success flag: ${JSON.stringify(value)}`);
}

export function parseVmwareCmdState(output: string, command: readonly string[]): PowerState {
  const value = parseVmwareCmdResult(output, command).toLowerCase();
  if (value === 'on' || value === 'off' || value === 'suspended' || value === 'stuck') return value;
  throw unexpectedOutput(command, `not a power state: ${JSON.stringify(value)}`);
}

/** `vmware-cmd -l`: one registered .vmx path per line. */
export function parseVmwareCmdList(output: string, command: readonly string[] = vmwareCmd.list()): string[] {
  const vmControl = findVmControlError(output);
  if (vmControl) throw hostCommandFailed(command, `VMControl error -${vmControl.code}: ${vmControl.message}`);
  return nonBlankLines(output).map((line) => {
    const path = line.text.trim();
    if (!path.startsWith('/') || !path.toLowerCase().endsWith('.vmx')) {
      throw unexpectedOutput(command, 'expected an absolute .vmx path', line);
    }
    return path;
  });
}
