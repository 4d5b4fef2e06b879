// Parser for `vim-cmd vmsvc/snapshot.get <vmid>`: the dash-indented tree, flattened in host order.

import { vimCmd } from '../commands/vim-cmd.js';
import { unexpectedOutput } from '../host-error.js';
import { nonBlankLines, type NumberedLine } from './lines.js';
import type { OwnedSnapshot } from '../snapshot-evidence.js';

export interface SnapshotInfo {
  name: string;
  /** Absent on builds that print no `Snapshot Id` (and on ESX 3.x). */
  id?: string;
  description: string;
  /** As the host prints it (e.g. `2/23/2015 18:12:50`, host-local time). */
  createdOn: string;
  /** e.g. `powered on`, `powered off`; absent when not printed. */
  state?: string;
  parentName?: string;
  parentId?: string;
  /** 0 for a root snapshot, +1 per level. */
  depth: number;
  /** Names from the root down to this snapshot (inclusive). */
  path: string[];
  /**
   * Set on a run's own snapshot where the host's listing cannot be trusted to show it (ESX 3.x, whose .vmsd
   * can be out of step with hostd): it is then recognised, and removed, by this evidence instead.
   */
  owned?: OwnedSnapshot;
}

const TREE_MARK = /^(-*)\|-(.*)$/;
const FIELD = /^(-*)Snapshot\s+([A-Za-z][A-Za-z ]*?)\s*:\s?(.*)$/;

type FieldKey = 'name' | 'id' | 'description' | 'createdOn' | 'state';

const FIELD_KEYS: Record<string, FieldKey> = {
  name: 'name',
  id: 'id',
  desciption: 'description',
  description: 'description',
  'created on': 'createdOn',
  state: 'state',
};

interface OpenNode {
  snap: SnapshotInfo;
  parent: SnapshotInfo | undefined;
  fieldDashes: number;
  line: NumberedLine;
  nameSeen: boolean;
}

export function parseSnapshotGet(output: string, command: readonly string[] = vimCmd.snapshotGet('0')): SnapshotInfo[] {
  const lines = nonBlankLines(output);
  const first = lines.shift();
  if (!first || !/^\s*Get Snapshot:\s*$/.test(first.text)) {
    throw unexpectedOutput(command, 'expected "Get Snapshot:"', first);
  }
  const snapshots: SnapshotInfo[] = [];
  const ancestors: SnapshotInfo[] = [];
  let open: OpenNode | undefined;

  const close = (): void => {
    if (!open) return;
    if (!open.nameSeen) throw unexpectedOutput(command, 'snapshot without a Snapshot Name line', open.line);
    const { snap, parent } = open;
    snap.path = parent ? [...parent.path, snap.name] : [snap.name];
    if (parent) {
      snap.parentName = parent.name;
      if (parent.id !== undefined) snap.parentId = parent.id;
    }
    open = undefined;
  };

  for (const line of lines) {
    const text = line.text.trim();
    const mark = TREE_MARK.exec(text);
    if (mark) {
      close();
      const dashes = mark[1]!.length;
      if (dashes % 2 !== 0) throw unexpectedOutput(command, 'odd tree indentation', line);
      const depth = dashes / 2;
      if (depth > ancestors.length) throw unexpectedOutput(command, 'tree level skipped', line);
      ancestors.length = depth;
      const snap: SnapshotInfo = { name: '', description: '', createdOn: '', depth, path: [] };
      open = { snap, parent: ancestors[depth - 1], fieldDashes: dashes + 2, line, nameSeen: false };
      ancestors.push(snap);
      snapshots.push(snap);
      continue;
    }
    const field = FIELD.exec(text);
    if (!field || !open) throw unexpectedOutput(command, 'not a snapshot tree line', line);
    if (field[1]!.length !== open.fieldDashes) {
      throw unexpectedOutput(command, 'field indentation does not match its node', line);
    }
    const key = FIELD_KEYS[field[2]!.replace(/\s+/g, ' ').toLowerCase()];
    if (key === undefined) continue;
    open.snap[key] = field[3]!.trimEnd();
    if (key === 'name') open.nameSeen = true;
  }
  close();
  return snapshots;
}
