// The simulated VM's snapshot tree: parent links, the current snapshot, and which disk layers hold what.

import { posix } from 'node:path';
import { parseDescriptor } from '../../formats/vmdk-descriptor.js';
import type { Vfs } from '../vmfs/types.js';
import type { SnapshotRecord, VmState } from './vm-state.js';

/** uid of the snapshot the VM runs from, 0 when it has none (undefined in states saved before trees: the newest). */
export function currentSnapshot(state: VmState): number {
  if (state.current === undefined) return state.snapshots[state.snapshots.length - 1]?.uid ?? 0;
  return state.snapshots.some((s) => s.uid === state.current) ? state.current : 0;
}

/** The descriptor a snapshot link sits on, or undefined for a base disk (or a file that is not a link). */
export function layerParent(vfs: Vfs, descriptorPath: string): string | undefined {
  let text: string;
  try {
    text = vfs.readFile(descriptorPath).toString('utf8');
  } catch {
    return undefined;
  }
  const d = parseDescriptor(text);
  if (!d.parentFileNameHint) return undefined;
  return posix.isAbsolute(d.parentFileNameHint) ? d.parentFileNameHint : `${posix.dirname(descriptorPath)}/${d.parentFileNameHint}`;
}

/**
 * States saved before trees: each snapshot's parent is the one before it, the layer it keeps is the one its
 * delta was put on, and the current snapshot is the newest.
 */
export function normalizeTree(state: VmState, vfs: Vfs): void {
  state.snapshots.forEach((s, i) => {
    s.parent ??= state.snapshots[i - 1]?.uid ?? 0;
    s.disks ??= s.children.map((c) => (c ? (layerParent(vfs, c) ?? '') : ''));
  });
  state.current ??= state.snapshots[state.snapshots.length - 1]?.uid ?? 0;
}

/** The layer each snapshot keeps for disk i, by snapshot uid. */
export function keptLayers(snaps: readonly SnapshotRecord[], i: number): Map<string, number> {
  const kept = new Map<string, number>();
  for (const s of snaps) if (s.disks?.[i]) kept.set(s.disks[i]!, s.uid);
  return kept;
}

/**
 * Every link of disk i's layer tree reachable from the VM's running top and from the layers the snapshots
 * keep, as child → parent (bases map to undefined).
 */
export function layerEdges(vfs: Vfs, top: string, snaps: readonly SnapshotRecord[], i: number): Map<string, string | undefined> {
  const edges = new Map<string, string | undefined>();
  const starts = [top, ...keptLayers(snaps, i).keys()];
  for (const start of starts) {
    for (let at: string | undefined = start, depth = 0; at !== undefined && !edges.has(at) && depth < 256; depth++) {
      const parent = layerParent(vfs, at);
      edges.set(at, parent);
      at = parent;
    }
  }
  return edges;
}

/** The layers sitting directly on `layer`. */
export function childLayers(edges: Map<string, string | undefined>, layer: string): string[] {
  return [...edges].filter(([, parent]) => parent === layer).map(([child]) => child);
}

/** After a snapshot leaves the tree: its children hang from its parent, and a current one passes to its parent. */
export function unlinkSnapshot(state: VmState, snap: SnapshotRecord): void {
  const parent = snap.parent ?? 0;
  for (const s of state.snapshots) if (s.parent === snap.uid) s.parent = parent;
  if (currentSnapshot(state) === snap.uid) state.current = parent;
  const k = state.snapshots.indexOf(snap);
  if (k >= 0) state.snapshots.splice(k, 1);
}
