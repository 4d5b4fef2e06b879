// After the run's snapshot is removed: are the VM's disks consolidated (ESXi 5+'s consolidationNeeded)? If not, consolidate them, a bounded number of times.

import { VcbError } from '../errors.js';
import { BACKUP_SNAPSHOT_NAME, listVmxDisks, parseVmx, type EsxHost, type VmRef } from '../esx/index.js';
import { msLeft, type ReleaseEnv } from './types.js';

/** The disk a device ran on before the run's snapshot (journaled with the snapshot, before the create). */
export interface DiskTop {
  device: string;
  path: string;
}

const ATTEMPTS = 3;
const PAUSE_MS = [1000, 3000];

export interface ConsolidationCheck {
  esx: EsxHost;
  ref: VmRef;
  /** The chain tops before the create, when the journal has them. */
  tops?: DiskTop[];
  /** Bound on each host command (the run's --snapshot-timeout). */
  timeoutMs: number;
  /** `-h ...` as the admin would type it, for advice. */
  hostLabel: string;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/**
 * Called once the run's snapshot is gone. A host that removed the snapshot from the tree but could not merge
 * its delta (ESXi 5+: consolidationNeeded) leaves the VM running on that delta, which keeps growing: the disks
 * are consolidated with the host's own command, up to three times within the release's bound. Returns whether
 * it had to consolidate; throws, saying so plainly, while the host still says consolidation is needed, so the
 * run never ends clean in that state and cleanup tries again. Hosts that do not report the state (ESX 3.x) are
 * checked by the .vmx alone: a disk that does not run on its pre-snapshot top is reported as a warning.
 */
export async function settleConsolidation(c: ConsolidationCheck, env: ReleaseEnv): Promise<boolean> {
  let needed = await c.esx.consolidationNeeded(c.ref);
  if (needed !== true) {
    await warnIfTopsMoved(c, env);
    return false;
  }
  const what = `the ${BACKUP_SNAPSHOT_NAME} snapshot of ${c.ref.name} was removed, but ${c.hostLabel} left its disks unconsolidated (consolidationNeeded): the VM still runs on a snapshot delta`;
  env.log.warn({ vm: c.ref.name }, `${what}; consolidating the disks`);
  const failures: string[] = [];
  let attempts = 0;
  while (needed && attempts < ATTEMPTS && !env.signal.aborted) {
    attempts++;
    try {
      await c.esx.consolidateDisks(c.ref, { timeoutMs: Math.min(c.timeoutMs, msLeft(env.deadline)) });
    } catch (e) {
      if (!(e instanceof VcbError) || e.code !== 'SNAPSHOT') throw e;
      failures.push(e.message);
      env.log.warn({ vm: c.ref.name, attempt: attempts, err: e.message }, 'consolidating the disks failed');
    }
    needed = (await c.esx.consolidationNeeded(c.ref)) === true;
    if (needed && attempts < ATTEMPTS) await sleep(Math.min(PAUSE_MS[attempts - 1] ?? 3000, msLeft(env.deadline) / 4), env.signal);
  }
  const command = `vim-cmd vmsvc/snapshot.consolidate ${c.ref.id}`;
  if (needed) {
    const last = failures[failures.length - 1]?.replace(/[.\s]+$/, '');
    const why = last ? `${failures.length} of ${attempts} consolidation attempt(s) failed (last: ${last})` : `${attempts} consolidation attempt(s) did not clear it`;
    throw new VcbError(
      'SNAPSHOT',
      `disks not consolidated: the snapshot itself was removed, but ${c.hostLabel} left the disks of ${c.ref.name} unconsolidated (consolidationNeeded), so the VM still runs on the snapshot's delta, which keeps growing until they are consolidated; ${why}; once the cause is fixed (a full datastore, a locked file), run \`${command}\` on the host (or "Consolidate" in the vSphere Client)`,
      { vm: c.ref.name, command: ['vim-cmd', 'vmsvc/snapshot.consolidate', c.ref.id] },
    );
  }
  const done = `${what} at first; vcbmounter consolidated them (\`${command}\`, ${attempts} attempt(s))`;
  env.log.warn({ vm: c.ref.name }, done);
  env.warn?.(done);
  await warnIfTopsMoved(c, env);
  return true;
}

/** Each disk should run on the descriptor it ran on before the snapshot; anything else means another snapshot operation ran meanwhile. */
async function warnIfTopsMoved(c: ConsolidationCheck, env: ReleaseEnv): Promise<void> {
  if (!c.tops?.length) return;
  const now = listVmxDisks(parseVmx(await c.esx.readFile(c.ref.vmxPath)), c.ref.vmxPath);
  const moved = c.tops.filter((t) => {
    const disk = now.find((d) => d.device === t.device);
    return disk !== undefined && disk.path !== t.path;
  });
  if (moved.length === 0) return;
  const which = moved.map((t) => `${t.device} runs on ${now.find((d) => d.device === t.device)!.path}, not on ${t.path}`).join('; ');
  const warning = `after the ${BACKUP_SNAPSHOT_NAME} snapshot of ${c.ref.name} was removed, not every disk runs on the file it ran on before the backup (${which}): another snapshot operation ran on the VM during the backup`;
  env.log.warn({ vm: c.ref.name }, warning);
  env.warn?.(warning);
}

/** Reads journaled chain tops back; undefined when absent, throws when malformed. */
export function parseDiskTops(value: unknown): DiskTop[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new Error('snapshot resource: tops is not a list');
  return value.map((v: unknown) => {
    const t = v as Partial<DiskTop> | null;
    if (!t || typeof t.device !== 'string' || typeof t.path !== 'string') throw new Error('snapshot resource: tops has a malformed entry');
    return { device: t.device, path: t.path };
  });
}
