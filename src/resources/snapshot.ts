// The run's _VCB-BACKUP_ snapshot as a resource: released by removing it, found by name and the run's own description.

import { VcbError } from '../errors.js';
import { parseChainTops, type ChainTop, type SnapshotBaseline, type SnapshotInfo, type VmRef } from '../esx/index.js';
import { withReconnect } from '../transport/index.js';
import { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';
import { parseDiskTops, settleConsolidation, type DiskTop } from './disk-consolidation.js';
import { field, msLeft, type ReleaseEnv, type ResourceType } from './types.js';

export interface SnapshotResource {
  /** Host label the run was recorded under. */
  host: string;
  vmId: string;
  vm: string;
  /** Absent in journals of older versions: the VM is then found by its id. */
  vmxPath?: string;
  /** `vcbmounter backup run <runid>`: what tells this run's snapshot from any other. */
  description: string;
  /**
   * What the run learnt of its create: 'created' (the host answered with the snapshot), 'failed' (the host
   * answered with an error), or unset (no answer yet: it may still appear on the host).
   */
  outcome?: 'created' | 'failed';
  /** Epoch ms after which an unanswered create can no longer complete on the host (see settleTime). */
  settleBy: number;
  /** Bound on each snapshot command (the run's --snapshot-timeout). */
  timeoutMs: number;
  /**
   * ESX 3.x: hassnapshot and the disk chains before the create (journaled before it). The snapshot is then
   * recognised by them, not by the .vmsd, which hostd can leave out of step.
   */
  baseline?: SnapshotBaseline;
  /** ESX 3.x: the chain tops the run saw right after its create, when it saw them. */
  created?: ChainTop[];
  /** The descriptor each disk ran on before the create: where it should run again once the snapshot is gone. */
  tops?: DiskTop[];
}

/** The snapshot description that carries the run id. */
export function snapshotDescription(runId: string): string {
  return `vcbmounter backup run ${runId}`;
}

/**
 * Until when an unanswered create might still complete on the host. The client gives up after one
 * --snapshot-timeout; a host can keep working on the task for longer (a quiesce that hangs), so a second
 * full timeout is allowed before "not there" is believed.
 */
export function settleTime(startedAt: number, timeoutMs: number): number {
  return startedAt + 2 * timeoutMs;
}

async function removeOurs(r: SnapshotResource, env: ReleaseEnv): Promise<number> {
  const session = await env.host!();
  const timeoutMs = Math.min(r.timeoutMs, msLeft(env.deadline));
  return withReconnect(session.transport, async () => {
    if (env.signal.aborted) throw env.signal.reason;
    const ref: VmRef | undefined = r.vmxPath ? { id: r.vmId, name: r.vm, vmxPath: r.vmxPath } : (await session.esx.listVms()).find((v) => v.id === r.vmId);
    if (!ref) {
      env.log.warn({ vm: r.vm, vmId: r.vmId }, 'the VM of a backup snapshot is no longer registered; nothing to remove');
      return 0;
    }
    if (r.baseline && session.esx.commandSet === 'vmware-cmd') {
      const own: SnapshotInfo = {
        name: BACKUP_SNAPSHOT_NAME,
        description: r.description,
        createdOn: '',
        depth: 0,
        path: [BACKUP_SNAPSHOT_NAME],
        owned: { baseline: r.baseline, ...(r.created ? { created: r.created } : {}) },
      };
      if ((await session.esx.removeSnapshot(ref, own, { timeoutMs })) === 'absent') return 0;
      env.log.info({ vm: r.vm }, 'backup snapshot removed (recognised by hassnapshot and the disk chains)');
      return 1;
    }
    const snaps = await session.esx.listSnapshots(ref);
    let removed = 0;
    for (const s of snaps.filter((x) => x.name === BACKUP_SNAPSHOT_NAME && x.description === r.description)) {
      // The first removal finds its snapshot in the listing just made; after it, the tree has changed.
      await session.esx.removeSnapshot(ref, s, { timeoutMs, ...(removed === 0 ? { listing: snaps } : {}) });
      removed++;
      env.log.info({ vm: r.vm, snapshot: s.id ?? s.name }, 'backup snapshot removed');
    }
    return removed;
  }, env.signal);
}

/** Makes sure the VM no longer runs on the snapshot's delta; true when it had to consolidate the disks. */
async function consolidated(r: SnapshotResource, env: ReleaseEnv): Promise<boolean> {
  const session = await env.host!();
  if (session.esx.commandSet !== 'vim-cmd' || !r.vmxPath) return false;
  const ref: VmRef = { id: r.vmId, name: r.vm, vmxPath: r.vmxPath };
  return withReconnect(
    session.transport,
    () => settleConsolidation({ esx: session.esx, ref, timeoutMs: r.timeoutMs, hostLabel: r.host, ...(r.tops ? { tops: r.tops } : {}) }, env),
    env.signal,
  );
}

function parseBaseline(value: unknown): SnapshotBaseline | undefined {
  if (value === undefined) return undefined;
  const b = value as { hassnapshot?: unknown; chains?: unknown } | null;
  if (!b || b.hassnapshot !== 0) throw new Error('snapshot resource: baseline is malformed (hassnapshot must be 0)');
  const chains = parseChainTops(b.chains, 'baseline.chains');
  if (!chains) throw new Error('snapshot resource: baseline has no chains');
  return { hassnapshot: 0, chains };
}

export const snapshot: ResourceType<SnapshotResource> = {
  kind: 'snapshot',
  needsHost: true,
  parse(f) {
    // Journals of older versions carry neither: their runs are long over, so nothing is waited for.
    const settleBy = f.settleBy === undefined ? 0 : Number(f.settleBy);
    const timeoutMs = f.timeoutMs === undefined ? 15 * 60_000 : Number(f.timeoutMs);
    if (!Number.isFinite(settleBy) || !Number.isFinite(timeoutMs)) throw new Error('snapshot resource: settleBy or timeoutMs is not a number');
    const outcome = f.outcome === 'created' || f.outcome === 'failed' ? f.outcome : undefined;
    const baseline = parseBaseline(f.baseline);
    const created = parseChainTops(f.created, 'created');
    const tops = parseDiskTops(f.tops);
    return {
      host: field(f, 'host', 'snapshot'),
      vmId: field(f, 'vmId', 'snapshot'),
      vm: field(f, 'vm', 'snapshot'),
      ...(typeof f.vmxPath === 'string' && f.vmxPath ? { vmxPath: f.vmxPath } : {}),
      description: field(f, 'description', 'snapshot'),
      settleBy,
      timeoutMs,
      ...(outcome ? { outcome } : {}),
      ...(baseline ? { baseline } : {}),
      ...(created ? { created } : {}),
      ...(tops ? { tops } : {}),
    };
  },
  async release(r, env) {
    if (!env.host) {
      throw new VcbError('CLEANUP', `the ${BACKUP_SNAPSHOT_NAME} snapshot of ${r.vm} may still be on ${r.host}: run \`vcbmounter cleanup -h ${env.hostFlags ?? r.host} ...\` (same --state-dir) to remove it`, { vm: r.vm });
    }
    const removed = await removeOurs(r, env);
    // Gone from the tree is not yet given back: the VM may still run on the snapshot's delta.
    if ((removed > 0 || r.outcome === 'created') && (await consolidated(r, env))) return 'released';
    if (removed > 0) return 'released';
    if (r.outcome === undefined && Date.now() < r.settleBy) {
      throw new VcbError(
        'SETTLING',
        `still waiting: the snapshot create got no answer, so ${r.host} may still be creating ${BACKUP_SNAPSHOT_NAME} on ${r.vm} until ${new Date(r.settleBy).toISOString()}; none exists yet (cleanup after that time removes it if it appears)`,
        { vm: r.vm },
      );
    }
    return 'absent';
  },
};
