// The vcbSnapshot role: list, create, find and remove a VM's _VCB-BACKUP_ snapshot for scripts, under the VM's lock, outside any run.

import { hostname as osHostname, userInfo } from 'node:os';
import { acquireVmLock, listOpenRuns, newRunId } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { BACKUP_SNAPSHOT_NAME, type HostSession, type SnapshotInfo, type VmRef } from '../esx/index.js';
import type { Logger } from '../log.js';
import { TransportError } from '../transport/index.js';
import type { ResolvedVm } from './identify.js';

/**
 * How `snapshot create` describes its snapshot. Backup runs write `vcbmounter backup run <id>`, which their
 * journal, `cleanup` and later runs use to remove it; this other prefix keeps a script's snapshot out of all
 * of them: a script that creates one owns it until `snapshot remove`.
 */
export const SCRIPT_SNAPSHOT_PREFIX = 'vcbmounter snapshot create';

const SCRIPT_DESCRIPTION = /^vcbmounter snapshot create(?: quiesced=([01]))?\b/;
const RUN_DESCRIPTION = /^vcbmounter backup run (\S+)$/;

export function scriptSnapshotDescription(quiesced: boolean, now = new Date()): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (a container): the pid and machine still say who made it.
  }
  return `${SCRIPT_SNAPSHOT_PREFIX} quiesced=${quiesced ? 1 : 0} by ${user}@${osHostname()} pid ${process.pid} at ${now.toISOString()}`;
}

/** Who made a snapshot, as far as its name and description tell. */
export type SnapshotMaker =
  /** `vcbmounter snapshot create`: held by a script until `snapshot remove`. */
  | 'snapshot-create'
  /** A vcbmounter backup run (its journal removes it; `cleanup` after a crash). */
  | 'backup-run'
  /** Named `_VCB-BACKUP_` by another tool of the VCB family (VMware's own vcbMounter, say). */
  | 'vcb-tool'
  /** Anyone else: a user's snapshot, which vcbmounter removes only with --force. */
  | 'user';

export interface SnapshotListing {
  name: string;
  /** The host's id (vim-cmd's Snapshot Id, ESX 3.x's .vmsd uid); absent on builds that print none. */
  id?: string;
  description: string;
  /** As the host prints it. */
  created: string;
  /** `powered on` / `powered off`, where the host says. */
  state?: string;
  depth: number;
  /** Names from the root down to this snapshot. */
  path: string[];
  parentId?: string;
  /** Named _VCB-BACKUP_: a backup snapshot, which `snapshot remove` takes without --force. */
  backup: boolean;
  madeBy: SnapshotMaker;
  /** Known only for snapshots `snapshot create` made (its description records it); hosts do not list it. */
  quiesced?: boolean;
  /** For madeBy backup-run: the run, as `cleanup --list` names it. */
  runId?: string;
}

export function madeBy(s: SnapshotInfo): { madeBy: SnapshotMaker; quiesced?: boolean; runId?: string } {
  if (s.name !== BACKUP_SNAPSHOT_NAME) return { madeBy: 'user' };
  const script = SCRIPT_DESCRIPTION.exec(s.description);
  if (script) return { madeBy: 'snapshot-create', ...(script[1] !== undefined ? { quiesced: script[1] === '1' } : {}) };
  const run = RUN_DESCRIPTION.exec(s.description);
  if (run) return { madeBy: 'backup-run', runId: run[1]! };
  return { madeBy: 'vcb-tool' };
}

export function snapshotListing(s: SnapshotInfo): SnapshotListing {
  return {
    name: s.name,
    ...(s.id !== undefined ? { id: s.id } : {}),
    description: s.description,
    created: s.createdOn,
    ...(s.state !== undefined ? { state: s.state } : {}),
    depth: s.depth,
    path: s.path,
    ...(s.parentId !== undefined ? { parentId: s.parentId } : {}),
    backup: s.name === BACKUP_SNAPSHOT_NAME,
    ...madeBy(s),
  };
}

/** How messages name a snapshot: its name, id and maker. */
export function describeListed(s: SnapshotListing): string {
  const id = s.id !== undefined ? ` (id ${s.id})` : '';
  const who = s.madeBy === 'backup-run' ? `, made by backup run ${s.runId}` : s.madeBy === 'snapshot-create' ? ', made by `vcbmounter snapshot create`' : s.madeBy === 'vcb-tool' ? ', made by another VCB tool' : '';
  return `${JSON.stringify(s.path.join(' > ') || s.name)}${id}${who}`;
}

/** What every command here works on: a logged-in host, the VM selected, where locks are kept. */
export interface ScriptSnapshotTarget {
  session: HostSession;
  vm: ResolvedVm;
  stateDir: string;
  log: Logger;
  /** The command line for whoever finds the lock (no secrets). */
  argv: string[];
}

/**
 * Runs `fn` holding the VM's lock, the one a backup's `lock` step takes: a backup of the VM (or another
 * `snapshot create|remove`) on this proxy is refused while the snapshot is being made or removed, and this
 * command is refused while a backup runs. A lock left by a killed command is stale by its dead pid.
 */
export async function withVmLock<T>(t: ScriptSnapshotTarget, fn: () => Promise<T>): Promise<T> {
  const lock = acquireVmLock({
    stateDir: t.stateDir,
    host: t.session.label,
    vm: t.vm.ref.name,
    runId: `snapshot-${newRunId()}`,
    argv: t.argv,
    onWarning: (m) => t.log.warn(m),
  });
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** A backup snapshot a live run on this proxy still uses (a -t file disk server reads it until -U): never removed here. */
function refuseIfLiveRunUses(t: ScriptSnapshotTarget, s: SnapshotListing): void {
  if (s.madeBy !== 'backup-run') return;
  const run = listOpenRuns(t.stateDir).find((r) => r.runId === s.runId);
  if (!run || run.pidAlive === false) return;
  const where = run.pidAlive === true ? `pid ${run.pid} on this machine` : `on ${run.hostname || 'another machine'}`;
  const dir = run.dir ? `\`vcbmounter -U ${run.dir}\` releases it when that backup is done, or ` : '';
  throw new VcbError(
    'LOCKED',
    `snapshot ${describeListed(s)} of ${t.vm.ref.name} is in use by backup run ${run.runId} (${where}, started ${run.startedAt}); not removed: ${dir}stop that run and run \`vcbmounter cleanup\``,
    { vm: t.vm.ref.name },
  );
}

export async function listVmSnapshots(session: HostSession, ref: VmRef): Promise<SnapshotListing[]> {
  return (await session.esx.listSnapshots(ref)).map(snapshotListing);
}

export interface CreateOptions {
  /** Ask VMware Tools to quiesce the guest (only when the VM runs and Tools run). */
  quiesce: boolean;
  memory: boolean;
  timeoutMs: number;
}

export interface CreatedSnapshot {
  snapshot: SnapshotListing;
  quiesced: boolean;
  warnings: string[];
}

/** True when the host never answered (timeout, dropped connection, interrupt): it may still finish the create. */
function unanswered(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof TransportError) return c.code === 'TIMEOUT' || c.code === 'SOCKET' || c.code === 'ABORTED';
  }
  return false;
}

/**
 * Creates the VM's _VCB-BACKUP_ snapshot, with the backup's safety: under the VM's lock, refused while any
 * _VCB-BACKUP_ exists (whoever made it), on ESX 3.x refused while any snapshot exists (it could not be removed
 * alone), verified by listing afterwards. Nothing journals it: the caller owns it until `removeBackupSnapshots`.
 */
export async function createScriptSnapshot(t: ScriptSnapshotTarget, o: CreateOptions): Promise<CreatedSnapshot> {
  const { ref, info } = t.vm;
  const esx = t.session.esx;
  return withVmLock(t, async () => {
    const before = await esx.listSnapshots(ref);
    const existing = before.map(snapshotListing).filter((s) => s.backup);
    if (existing.length) {
      const hint = existing.some((s) => s.madeBy === 'snapshot-create')
        ? 'a script made it and holds it: remove it with `vcbmounter snapshot remove` once that script is done'
        : 'a backup left it: `vcbmounter cleanup` on the proxy that made it removes it, or `vcbmounter snapshot remove`';
      throw new VcbError('SNAPSHOT', `${ref.name} already has a ${BACKUP_SNAPSHOT_NAME} snapshot (${existing.map(describeListed).join(', ')}); nothing was created; ${hint}`, { vm: ref.name });
    }
    const warnings: string[] = [];
    let quiesce = o.quiesce && !o.memory && info.powerState === 'on';
    if (quiesce && info.toolsRunning === false) {
      warnings.push(`VMware Tools are not running in ${ref.name}: the snapshot is crash-consistent, not quiesced`);
      quiesce = false;
    }
    // ESX 3.x: hassnapshot must say 0 (else ours could not be removed alone later); throws before any create.
    const baseline = await esx.snapshotBaseline(ref, before);
    const description = scriptSnapshotDescription(quiesce);
    t.log.info({ quiesce, memory: o.memory }, `creating ${BACKUP_SNAPSHOT_NAME} snapshot`);
    let created: SnapshotInfo;
    try {
      created = await esx.createSnapshot(ref, {
        name: BACKUP_SNAPSHOT_NAME,
        description,
        quiesce,
        memory: o.memory,
        timeoutMs: o.timeoutMs,
        listing: before,
        ...(baseline ? { baseline } : {}),
      });
    } catch (e) {
      if (unanswered(e)) {
        throw new VcbError(
          'SNAPSHOT',
          `${ref.name}: no answer to the snapshot create within --snapshot-timeout ${o.timeoutMs / 1000} s; the host may still finish it: check with \`vcbmounter snapshot find\` and remove it with \`vcbmounter snapshot remove\``,
          { vm: ref.name },
          { cause: e },
        );
      }
      if (e instanceof VcbError && e.code === 'QUIESCE') {
        throw new VcbError('QUIESCE', `${ref.name}: the quiesced snapshot failed (${e.message}); fix the guest's freeze scripts or VSS, or use --no-quiesce for a crash-consistent one`, { ...e.context, vm: ref.name }, { cause: e });
      }
      throw e;
    }
    if (created.id === undefined) warnings.push(`the host lists no id for the new snapshot of ${ref.name} (old builds print none): \`snapshot remove\` finds it by its name`);
    return { snapshot: snapshotListing(created), quiesced: quiesce, warnings };
  });
}

export interface RemoveOptions {
  /** This snapshot only; without it, every _VCB-BACKUP_ snapshot of the VM. */
  id?: string;
  /** Also a snapshot vcbmounter did not make (another name). */
  force: boolean;
  timeoutMs: number;
}

export interface RemoveResult {
  removed: SnapshotListing[];
  /** With no --id and no _VCB-BACKUP_ snapshot: nothing to do (safe to repeat). */
  nothing: boolean;
}

/**
 * Removes the VM's backup snapshots (or the one `id` names) under the VM's lock. A snapshot not named
 * _VCB-BACKUP_ is refused unless `force`; one a live backup run uses is refused always. ESX 3.x and hosts
 * without ids remove a snapshot only while it is the VM's only one (the driver refuses otherwise).
 */
export async function removeBackupSnapshots(t: ScriptSnapshotTarget, o: RemoveOptions): Promise<RemoveResult> {
  const { ref } = t.vm;
  const esx = t.session.esx;
  return withVmLock(t, async () => {
    const all = await esx.listSnapshots(ref);
    let targets: SnapshotInfo[];
    if (o.id !== undefined) {
      const hit = all.find((s) => s.id === o.id);
      if (!hit) {
        const known = all.map((s) => describeListed(snapshotListing(s)));
        throw new VcbError('NO_SNAPSHOT', `${ref.name} has no snapshot with id ${o.id}` + (known.length ? `; it has ${known.join(', ')}` : '; it has no snapshots'), { vm: ref.name });
      }
      const listed = snapshotListing(hit);
      if (!listed.backup && !o.force) {
        throw new VcbError(
          'SNAPSHOT',
          `snapshot ${describeListed(listed)} of ${ref.name} was not made by vcbmounter (its snapshots are named ${BACKUP_SNAPSHOT_NAME}); not removed. Pass --force to remove it anyway (its changes are committed into the disks; the VM keeps its current state)`,
          { vm: ref.name },
        );
      }
      targets = [hit];
    } else {
      targets = all.filter((s) => s.name === BACKUP_SNAPSHOT_NAME);
      if (targets.length === 0) return { removed: [], nothing: true };
    }
    for (const s of targets) refuseIfLiveRunUses(t, snapshotListing(s));
    const removed: SnapshotListing[] = [];
    for (const [i, s] of targets.entries()) {
      t.log.info({ snapshot: s.id ?? s.name, description: s.description }, 'removing snapshot');
      // The first removal uses the listing just made; after it the tree has changed.
      const outcome = await esx.removeSnapshot(ref, s, { timeoutMs: o.timeoutMs, ...(i === 0 ? { listing: all } : {}) });
      if (outcome === 'removed') removed.push(snapshotListing(s));
    }
    return { removed, nothing: false };
  });
}
