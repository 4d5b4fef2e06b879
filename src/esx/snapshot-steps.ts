// Snapshot create/remove logic shared by both drivers: verify by listing, never trust the exit status alone.

import { VcbError } from '../errors.js';
import { describeSnapshot, findSnapshot, newSnapshots } from './snapshot-match.js';
import type { SnapshotInfo } from './parse/snapshot-tree.js';

/** The snapshot a create produced: exactly one new snapshot with the requested name. */
export function pickCreated(
  before: readonly SnapshotInfo[],
  after: readonly SnapshotInfo[],
  name: string,
  context: { vm: string; command: readonly string[]; hostOutput: string },
): SnapshotInfo {
  const created = newSnapshots(before, after).filter((s) => s.name === name);
  if (created.length === 1) return created[0]!;
  const why =
    created.length === 0
      ? `the host reported success but no new snapshot named "${name}" is listed`
      : `${created.length} new snapshots named "${name}" appeared; another process is creating snapshots`;
  const said = context.hostOutput.trim() === '' ? '' : ` (host said: ${context.hostOutput.trim().split('\n').join(' / ')})`;
  throw new VcbError('SNAPSHOT', `snapshot create on ${context.vm}: ${why}${said}`, {
    vm: context.vm,
    command: [...context.command],
  });
}

/** Throws unless `target` is the only snapshot, for hosts whose only removal is remove-all. */
export function requireOnlySnapshot(list: readonly SnapshotInfo[], target: SnapshotInfo, vm: string, why: string): void {
  const others = list.filter((s) => s !== findSnapshot(list, target));
  if (others.length === 0) return;
  throw new VcbError(
    'SNAPSHOT',
    `refusing to remove snapshot ${describeSnapshot(target)} of ${vm}: ${why}, and removing all would also ` +
      `consolidate ${others.map(describeSnapshot).join(', ')}`,
    { vm },
  );
}

export function assertRemoved(after: readonly SnapshotInfo[], target: SnapshotInfo, vm: string, command: readonly string[]): void {
  if (!findSnapshot(after, target)) return;
  throw new VcbError('SNAPSHOT', `snapshot ${describeSnapshot(target)} of ${vm} is still listed after removal`, {
    vm,
    command: [...command],
  });
}
