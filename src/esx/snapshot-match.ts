// Identifying one snapshot across listings: by id where the host has ids, else by name path and creation time.

import type { SnapshotInfo } from './parse/snapshot-tree.js';

export function sameSnapshot(a: SnapshotInfo, b: SnapshotInfo): boolean {
  if (a.id !== undefined && b.id !== undefined) return a.id === b.id;
  return a.createdOn === b.createdOn && a.path.length === b.path.length && a.path.every((n, i) => n === b.path[i]);
}

export function findSnapshot(list: readonly SnapshotInfo[], wanted: SnapshotInfo): SnapshotInfo | undefined {
  return list.find((s) => sameSnapshot(s, wanted));
}

/** Snapshots in `after` that were not in `before`. */
export function newSnapshots(before: readonly SnapshotInfo[], after: readonly SnapshotInfo[]): SnapshotInfo[] {
  return after.filter((s) => !findSnapshot(before, s));
}

export function describeSnapshot(snapshot: SnapshotInfo): string {
  const id = snapshot.id === undefined ? '' : ` (id ${snapshot.id})`;
  return `"${snapshot.path.join(' > ') || snapshot.name}"${id}`;
}
