// How a run recognises its own snapshot on ESX 3.x without trusting the .vmsd: hostd said none before the create, and every disk chain grew by exactly one link.

import { VcbError } from '../errors.js';
import { parseDescriptor } from '../formats/vmdk-descriptor.js';
import { resolveAgainstVmx } from './datastore-path.js';
import { listVmxDisks, rdmFromDescriptor } from './parse/vmx-disks.js';
import { parseVmx } from './parse/vmx.js';

/** One snapshotable disk of the .vmx: the descriptor the VM runs on and how long its chain is. */
export interface ChainTop {
  /** e.g. `scsi0:0`. */
  device: string;
  /** Absolute path of the descriptor the .vmx names (the top of the chain). */
  path: string;
  /** Descriptors in the chain, the base included (1 for a disk without snapshots). */
  links: number;
  /** The descriptor the top's delta sits on; absent for a base disk. */
  parent?: string;
}

/**
 * What the host showed just before the run's create: `vmware-cmd hassnapshot` said 0, and these chains.
 * Journaled before the create, so cleanup and the next run can recognise the snapshot the same way.
 */
export interface SnapshotBaseline {
  hassnapshot: 0;
  chains: ChainTop[];
}

/** A snapshot recognised by evidence: the baseline, and the chain tops seen right after the create when the run saw them. */
export interface OwnedSnapshot {
  baseline: SnapshotBaseline;
  created?: ChainTop[];
}

export type OwnedState = { kind: 'ours' } | { kind: 'absent' } | { kind: 'unclear'; why: string };

const MAX_CHAIN = 64;

/**
 * The chain top of every disk a snapshot covers (independent disks and physical RDMs get no delta), from
 * the .vmx and the descriptors. Throws HOST_COMMAND when a file cannot be read or parsed.
 */
export async function readChainTops(readFile: (path: string) => Promise<string>, vmxPath: string): Promise<ChainTop[]> {
  const tops: ChainTop[] = [];
  for (const disk of listVmxDisks(parseVmx(await readFile(vmxPath)), vmxPath)) {
    if (disk.independent || disk.rdm) continue;
    let path = disk.path;
    let top: ChainTop | undefined;
    for (let links = 1; ; links++) {
      if (links > MAX_CHAIN) throw new VcbError('HOST_COMMAND', `disk chain of ${disk.path} is deeper than ${MAX_CHAIN} links`);
      const text = await readFile(path);
      if (links === 1 && rdmFromDescriptor(text) === 'physical') break;
      const d = parseDescriptor(text);
      const ext = d.extents[0];
      const sparse = d.createType === 'vmfsSparse' || d.createType === 'seSparse' || ext?.type === 'VMFSSPARSE' || ext?.type === 'SESPARSE';
      const parent = sparse && d.parentFileNameHint ? resolveAgainstVmx(path, d.parentFileNameHint) : undefined;
      if (sparse && !parent) throw new VcbError('HOST_COMMAND', `snapshot descriptor ${path} has no parentFileNameHint`);
      if (links === 1) top = { device: disk.device, path, links: 0, ...(parent ? { parent } : {}) };
      if (!parent) {
        top!.links = links;
        break;
      }
      path = parent;
    }
    if (top) tops.push(top);
  }
  return tops;
}

/**
 * Whose snapshot the host shows now, judged against the baseline: 'ours' when hostd reports a snapshot and
 * every chain is exactly one link longer, on top of the descriptor it had before (and is the top the run saw
 * after its create, when known); 'absent' when hostd reports none and every chain is as before; anything
 * else is 'unclear', and removing all snapshots then could remove one that is not the run's.
 */
export function judgeOwned(owned: OwnedSnapshot, hassnapshot: boolean, now: readonly ChainTop[]): OwnedState {
  const before = owned.baseline.chains;
  const devices = (list: readonly ChainTop[]) => list.map((c) => c.device).sort().join(',');
  if (devices(before) !== devices(now)) {
    return { kind: 'unclear', why: `the VM's disks changed (${devices(before) || 'none'} before the create, ${devices(now) || 'none'} now)` };
  }
  const at = (list: readonly ChainTop[], device: string) => list.find((c) => c.device === device)!;
  const unchanged = before.every((b) => at(now, b.device).path === b.path);
  if (unchanged) {
    return hassnapshot ? { kind: 'unclear', why: 'hostd reports a snapshot but no disk chain grew, so it is not the one the run created' } : { kind: 'absent' };
  }
  const grown = before.filter((b) => {
    const n = at(now, b.device);
    const created = owned.created?.find((c) => c.device === b.device);
    return n.links === b.links + 1 && n.parent === b.path && (!created || created.path === n.path);
  });
  if (grown.length === before.length) {
    return hassnapshot ? { kind: 'ours' } : { kind: 'unclear', why: 'the disks run on new deltas but hostd reports no snapshot' };
  }
  const odd = before
    .filter((b) => !grown.includes(b))
    .map((b) => `${b.device} has ${at(now, b.device).links} links (top ${at(now, b.device).path}), ${b.links} before the create (top ${b.path})`);
  return { kind: 'unclear', why: `not every disk chain grew by exactly the run's one link: ${odd.join('; ')}` };
}

/** Reads a baseline or created-tops list back from a journal; undefined when absent, throws when malformed. */
export function parseChainTops(value: unknown, what: string): ChainTop[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new Error(`snapshot resource: ${what} is not a list`);
  return value.map((v: unknown) => {
    const c = v as Partial<ChainTop> | null;
    if (!c || typeof c.device !== 'string' || typeof c.path !== 'string' || typeof c.links !== 'number' || (c.parent !== undefined && typeof c.parent !== 'string')) {
      throw new Error(`snapshot resource: ${what} has a malformed entry`);
    }
    return { device: c.device, path: c.path, links: c.links, ...(c.parent !== undefined ? { parent: c.parent } : {}) };
  });
}
