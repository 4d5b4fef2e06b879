// Parser for `vim-cmd vmsvc/getallvms`: keys on the leading vmid and the `[ds] path.vmx` token.

import { vimCmd } from '../commands/vim-cmd.js';
import { unexpectedOutput } from '../host-error.js';
import { numberedLines } from './lines.js';

export interface GetAllVmsEntry {
  vmid: string;
  name: string;
  /** `[datastore] dir/vm.vmx` as printed. */
  bracketPath: string;
  guestOs: string;
  /** Virtual hardware version, e.g. `vmx-13`. */
  version: string;
  /** May span several lines on the host; joined with '\n'. Empty when none. */
  annotation: string;
}

export interface GetAllVmsResult {
  vms: GetAllVmsEntry[];
  /** vmids the host reported as `Skipping invalid VM '<id>'`. */
  skipped: string[];
}

const HEADER = /^\s*Vmid\s+Name\s+File\s+Guest OS\s+Version(\s+Annotation)?\s*$/;
const SKIPPED = /^\s*Skipping invalid VM '([^']*)'/;
const ROW_START = /^\s*(\d+)\s+(.*)$/;
const AFTER_FILE = /^\s+(\S+)\s+(vmx-\d+)(?:\s+(.*))?$/;

/** Splits `rest` (all after the vmid) into name and the fields after it; null when it is not a VM row. */
function splitRow(rest: string): Omit<GetAllVmsEntry, 'vmid'> | null {
  const candidates: Array<Omit<GetAllVmsEntry, 'vmid'>> = [];
  const fileStart = /\s\[[^\]]*\](?= )/g;
  for (let m = fileStart.exec(rest); m; m = fileStart.exec(rest)) {
    const name = rest.slice(0, m.index).trim();
    const tail = rest.slice(m.index + 1);
    const vmxEnds = [...tail.matchAll(/\.vmx(?=\s)/g)].map((e) => (e.index ?? 0) + 4);
    for (const end of vmxEnds.reverse()) {
      const after = AFTER_FILE.exec(tail.slice(end));
      if (!after || name === '') continue;
      candidates.push({
        name,
        bracketPath: tail.slice(0, end),
        guestOs: after[1]!,
        version: after[2]!,
        annotation: (after[3] ?? '').trimEnd(),
      });
      break;
    }
  }
  if (candidates.length === 0) return null;
  const matchingFileName = candidates.find((c) => c.bracketPath.includes(`/${c.name}.vmx`));
  return matchingFileName ?? candidates[0]!;
}

export function parseGetAllVms(output: string, command: readonly string[] = vimCmd.getAllVms()): GetAllVmsResult {
  const result: GetAllVmsResult = { vms: [], skipped: [] };
  let sawHeader = false;
  for (const line of numberedLines(output)) {
    const skipped = SKIPPED.exec(line.text);
    if (skipped) {
      result.skipped.push(skipped[1]!);
      continue;
    }
    if (!sawHeader) {
      if (HEADER.test(line.text)) sawHeader = true;
      else if (line.text.trim() !== '') throw unexpectedOutput(command, 'expected the Vmid/Name/File header', line);
      continue;
    }
    const start = ROW_START.exec(line.text);
    const row = start ? splitRow(` ${start[2]!}`) : null;
    if (start && row) {
      result.vms.push({ vmid: start[1]!, ...row });
      continue;
    }
    const previous = result.vms[result.vms.length - 1];
    if (!previous) {
      if (line.text.trim() === '') continue;
      throw unexpectedOutput(command, 'expected a VM row', line);
    }
    previous.annotation = previous.annotation === '' ? line.text.trimEnd() : `${previous.annotation}\n${line.text.trimEnd()}`;
  }
  if (!sawHeader) throw unexpectedOutput(command, 'no Vmid/Name/File header');
  for (const vm of result.vms) vm.annotation = vm.annotation.replace(/\n+$/, '');
  return result;
}
