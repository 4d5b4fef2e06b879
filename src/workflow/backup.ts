// The fullvm backup of one VM: resolve, lock, snapshot (quiesced), block list, export, remove snapshot, publish.

import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { VcbError } from '../errors.js';
import {
  acquireVmLock,
  describePlan,
  Journal,
  listOpenRuns,
  newRunId,
  resolveStateDir,
  runSteps,
  UndoStack,
  type RunContext,
  type UndoHandle,
  type Step,
} from '../engine/index.js';
import { descriptorCreateType, listVmxDisks, parseVmx, rdmFromDescriptor, resolveAgainstVmx, type BlockMap, type EsxHost, type SnapshotInfo, type VmRef } from '../esx/index.js';
import { TransportError, withReconnect } from '../transport/index.js';
import { parseDescriptor } from '../formats/vmdk-descriptor.js';
import type { Logger } from '../log.js';
import { resolveVm, parseSelector, type ResolvedVm } from './identify.js';
import { openHostSession, type HostSession } from './connect.js';
import { BACKUP_SNAPSHOT_NAME, type BackupOptions } from './options.js';
import { recoverRun } from './recover.js';
import { madeByVcbmounter } from './unmount.js';
import { checkDestinationParent } from './destination.js';
import { exportVm, type ExportDiskPlan, type ExportResult } from './export-vm.js';
import { partialDirFor, sharedHashThread } from '../export/index.js';

export const TOOL_VERSION = '0.1.0';

export interface BackupResult {
  runId: string;
  vm: { name: string; id: string };
  dir: string;
  quiesced: boolean;
  disks: ExportResult['disks'];
  skipped: ExportResult['skipped'];
  warnings: string[];
  startedAt: string;
  endedAt: string;
  bytes: number;
}

export interface BackupDeps {
  log: Logger;
  signal: AbortSignal;
  /** Progress of the export in bytes (the CLI draws it on a terminal). */
  onProgress?: (done: number, total: number) => void;
  /** Opens the host session; tests and the embedded simulator pass their own. */
  openSession?: (o: BackupOptions) => Promise<HostSession>;
}

/** What the steps find and make; one object shared by every step (the runner hands each step a copy of the context). */
interface RunState {
  snapshotHandle?: UndoHandle;
  disks: ExportDiskPlan[];
  skipped: SkippedPlan[];
  snapshot?: SnapshotInfo;
  /** The inspect step's snapshot listing, while still current (no leftover removed since): the create reuses it. */
  snapshotsListed?: SnapshotInfo[];
  quiesced: boolean;
  warnings: string[];
  result?: ExportResult;
}

interface Ctx extends RunContext {
  s: RunState;
}

export interface SkippedPlan {
  device: string;
  path: string;
  reason: 'independent' | 'physical-rdm';
  detail: string;
}

/** The snapshot description carries the run id so cleanup can tell our snapshot from anyone else's. */
export function snapshotDescription(runId: string): string {
  return `vcbmounter backup run ${runId}`;
}

type HostDiskChain = Omit<ExportDiskPlan, 'device' | 'blockMap'>;

/**
 * Walks a disk's descriptor chain on the host: the base (a flat disk, or the mapping file of a virtual-mode
 * RDM) and the user-snapshot deltas above it (oldest first). `firstText` is the descriptor at
 * `descriptorPath` when the caller has just read it (one host command less per disk).
 */
async function diskChain(esx: EsxHost, descriptorPath: string, firstText?: string): Promise<HostDiskChain> {
  const deltas: string[] = [];
  let path = descriptorPath;
  for (let depth = 0; depth < 64; depth++) {
    const text = depth === 0 && firstText !== undefined ? firstText : await esx.readFile(path);
    const d = parseDescriptor(text);
    const ext = d.extents[0];
    if (!ext?.fileName) throw new VcbError('HOST_COMMAND', `disk descriptor ${path} names no extent`);
    const extentPath = resolveAgainstVmx(path, ext.fileName);
    if (d.createType === 'vmfsSparse' || ext.type === 'VMFSSPARSE') {
      deltas.unshift(extentPath);
      if (!d.parentFileNameHint) throw new VcbError('HOST_COMMAND', `snapshot descriptor ${path} has no parentFileNameHint`);
      path = resolveAgainstVmx(path, d.parentFileNameHint);
      continue;
    }
    const base = { base: path, baseData: extentPath, capacity: ext.sectors * 512, deltas };
    if (d.extents.length === 1 && ext.type === 'VMFSRDM' && rdmFromDescriptor(text) === 'virtual') return { ...base, thin: false, rdm: 'virtual' };
    if (d.extents.length !== 1 || (ext.type !== 'VMFS' && ext.type !== 'FLAT')) {
      throw new VcbError('EXPORT', `disk ${path} has a layout this version cannot export (createType ${d.createType}, ${d.extents.length} extents of type ${ext.type})`);
    }
    return { ...base, thin: d.ddb.get('ddb.thinProvisioned') === '1' };
  }
  throw new VcbError('HOST_COMMAND', `disk chain of ${descriptorPath} is deeper than 64 snapshots`);
}

/**
 * A virtual-mode RDM's data lies on its own LUN, which `vmkfstools -t0` cannot be relied on to describe:
 * the whole mapping file is treated as data, read through the host like a flat file.
 */
function wholeFileMap(dataPath: string, capacity: number): BlockMap {
  return { path: dataPath, size: capacity, extents: [{ fileOffset: 0, length: capacity, kind: 'mapped' }] };
}

/** The VM's disks to export (with their chains) and the ones a snapshot cannot cover, from its .vmx. */
async function planDisks(esx: EsxHost, ref: VmRef): Promise<{ disks: ExportDiskPlan[]; skipped: SkippedPlan[] }> {
  const disks: ExportDiskPlan[] = [];
  const skipped: SkippedPlan[] = [];
  for (const disk of listVmxDisks(parseVmx(await esx.readFile(ref.vmxPath)), ref.vmxPath)) {
    if (disk.independent) {
      skipped.push({ device: disk.device, path: disk.path, reason: 'independent', detail: `independent disk (${disk.mode}): snapshots do not cover it` });
      continue;
    }
    const text = await esx.readFile(disk.path);
    const rdm = disk.rdm ? 'physical' : rdmFromDescriptor(text);
    if (rdm === 'physical') {
      skipped.push({
        device: disk.device,
        path: disk.path,
        reason: 'physical-rdm',
        detail: `raw device mapping in physical compatibility mode (${descriptorCreateType(text) ?? disk.deviceType}): it cannot be snapshotted`,
      });
      continue;
    }
    const chain = await diskChain(esx, disk.path, text);
    disks.push({ device: disk.device, ...chain, blockMap: chain.rdm ? wholeFileMap(chain.baseData, chain.capacity) : undefined });
  }
  return { disks, skipped };
}

interface Env {
  o: BackupOptions;
  deps: BackupDeps;
  runId: string;
  dir: string;
  session: HostSession;
  vm: ResolvedVm;
}

export function planSteps(env: Env): Step<Ctx>[] {
  const { o, deps, runId, dir, session } = env;
  const { log } = deps;
  const esx = session.esx;
  const ref = env.vm.ref;
  const info = env.vm.info;
  return [
    {
      name: 'inspect',
      description: 'check the destination, read the .vmx and disk descriptors, check existing snapshots',
      errorCode: 'HOST_COMMAND',
      async run(ctx) {
        if (existsSync(dir) && o.preexistingMountpoint === 'fail') {
          throw new VcbError('DESTINATION', `destination ${dir} already exists; remove it (vcbmounter -U ${dir}), choose another -r, or pass --preexisting-mountpoint delete to replace it after a successful backup`);
        }
        if (existsSync(dir) && o.preexistingMountpoint === 'delete' && !madeByVcbmounter(dir)) {
          throw new VcbError('DESTINATION', `destination ${dir} exists and was not made by vcbmounter (no catalog in it); --preexisting-mountpoint delete only replaces earlier backups: remove it yourself or choose another -r`);
        }
        checkDestinationParent(dir);
        const plan = await planDisks(esx, ref);
        ctx.s.disks = plan.disks;
        ctx.s.skipped = plan.skipped;
        for (const s of ctx.s.skipped) ctx.s.warnings.push(`skipped ${s.device} (${s.path}): ${s.detail}`);
        for (const w of ctx.s.warnings) log.warn(w);
        if (ctx.s.disks.length === 0) throw new VcbError('EXPORT', `${ref.name} has no disk that can be backed up (${ctx.s.skipped.length} skipped)`);
        const snaps = await esx.listSnapshots(ref);
        const leftovers = snaps.filter((s) => s.name === BACKUP_SNAPSHOT_NAME);
        if (leftovers.length && o.preexistingSnapshot === 'fail') {
          throw new VcbError(
            'SNAPSHOT',
            `${ref.name} already has a ${BACKUP_SNAPSHOT_NAME} snapshot (${leftovers.map((s) => s.description || s.createdOn).join(', ')}), left by an earlier backup; remove it with "vcbmounter cleanup" or pass --preexisting-snapshot delete`,
          );
        }
        const user = snaps.filter((s) => s.name !== BACKUP_SNAPSHOT_NAME);
        if (user.length && esx.commandSet === 'vmware-cmd') {
          throw new VcbError(
            'SNAPSHOT',
            `${ref.name} has snapshots of its own (${user.map((s) => JSON.stringify(s.name)).join(', ')}); ESX 3.x (vmware-cmd) can only remove all of a VM's snapshots at once, so the backup snapshot could not be removed without consolidating them: remove or consolidate them first, or back the VM up from a host with vim-cmd`,
          );
        }
        for (const s of leftovers) {
          log.warn({ snapshot: s.id ?? s.name, description: s.description }, `removing leftover ${BACKUP_SNAPSHOT_NAME} snapshot`);
          await esx.removeSnapshot(ref, s, { timeoutMs: o.snapshotTimeoutMs });
        }
        if (user.length) log.info({ snapshots: user.map((s) => s.name) }, 'VM has user snapshots: they are kept, the backup is the image as of the new snapshot');
        // Removing a leftover moved the disk chains: read them again so the user deltas are right.
        if (leftovers.length) ctx.s.disks = (await planDisks(esx, ref)).disks;
        else ctx.s.snapshotsListed = snaps;
      },
    },
    {
      name: 'snapshot',
      description: `create the ${BACKUP_SNAPSHOT_NAME} snapshot (quiesced when VMware Tools run)`,
      errorCode: 'SNAPSHOT',
      async run(ctx) {
        let quiesce = o.quiesce && info.powerState === 'on';
        if (quiesce && info.toolsRunning === false) {
          if (o.requireQuiesce) throw new VcbError('QUIESCE', `${ref.name}: VMware Tools are not running, so the guest cannot be quiesced, and --require-quiesce is set`);
          ctx.s.warnings.push(`VMware Tools are not running in ${ref.name}: the backup is crash-consistent, not application-consistent`);
          log.warn(ctx.s.warnings[ctx.s.warnings.length - 1]!);
          quiesce = false;
        }
        const description = snapshotDescription(runId);
        // Unknown when the create did not answer (timeout, dropped connection, interrupt): the host may still finish it.
        let createOutcome: 'pending' | 'answered' | 'unknown' = 'pending';
        ctx.s.snapshotHandle = ctx.undo.push({
          kind: 'snapshot',
          description: `${BACKUP_SNAPSHOT_NAME} snapshot of ${ref.name}`,
          resource: { host: session.label, vmId: ref.id, vm: ref.name, name: BACKUP_SNAPSHOT_NAME, description },
          release: async () => {
            const removed = await removeOurSnapshot(session, ref, description, o.snapshotTimeoutMs, log);
            if (removed === 0 && createOutcome === 'unknown') {
              throw new VcbError(
                'CLEANUP',
                `the snapshot create got no answer, so the host may still be creating ${BACKUP_SNAPSHOT_NAME} on ${ref.name}; none exists yet, and "vcbmounter cleanup" run later removes it if it appears`,
                { vm: ref.name },
              );
            }
          },
        });
        log.info({ quiesce }, `creating ${BACKUP_SNAPSHOT_NAME} snapshot`);
        try {
          ctx.s.snapshot = await esx.createSnapshot(ref, {
            name: BACKUP_SNAPSHOT_NAME, description, quiesce, memory: false, timeoutMs: o.snapshotTimeoutMs,
            ...(ctx.s.snapshotsListed ? { listing: ctx.s.snapshotsListed } : {}),
          });
          createOutcome = 'answered';
        } catch (e) {
          createOutcome = unanswered(e) ? 'unknown' : 'answered';
          if (quiesce && e instanceof VcbError && /quiesc|freeze|Tools/i.test(e.message)) {
            throw new VcbError('QUIESCE', `${ref.name}: the quiesced snapshot failed (${e.message}); fix the guest's freeze scripts or VSS, or run with --no-quiesce for a crash-consistent backup`, { vm: ref.name }, { cause: e });
          }
          throw asSnapshotTimeout(e, o.snapshotTimeoutMs) ?? e;
        }
        ctx.s.quiesced = quiesce;
      },
    },
    {
      name: 'blocklist',
      description: 'read the block list of each base disk (vmkfstools -t0; a virtual RDM is read whole)',
      errorCode: 'HOST_COMMAND',
      async run(ctx) {
        for (const d of ctx.s.disks) d.blockMap ??= await esx.blockMap(d.base);
      },
    },
    {
      name: 'export',
      description: `export every disk and the VM's files to ${dir} (${o.mode}, ${o.monolithic ? 'one extent per disk' : '2 GiB extents'})`,
      errorCode: 'EXPORT',
      async run(ctx) {
        const partialDir = partialDirFor(dir, runId);
        const partial = ctx.undo.push({
          kind: 'export-dir',
          description: `unfinished export ${partialDir}`,
          resource: { partialDir },
          release: async () => rmSync(partialDir, { recursive: true, force: true }),
        });
        ctx.s.result = await exportVm({
          session,
          vm: env.vm,
          disks: ctx.s.disks,
          skipped: ctx.s.skipped,
          dir,
          options: o,
          runId,
          quiesced: ctx.s.quiesced,
          warnings: ctx.s.warnings,
          snapshotName: BACKUP_SNAPSHOT_NAME,
          toolVersion: TOOL_VERSION,
          signal: ctx.signal,
          log,
          onProgress: deps.onProgress,
          snapshotId: ctx.s.snapshot?.id,
          // Every disk byte is read: the VM stops running on a delta now, before the extents are fsynced and
          // the catalog written. If the host refuses, the export goes on: the final unwind tries again and
          // reports CLEANUP (exit 8) if it cannot.
          onDisksRead: async () => {
            try {
              await ctx.s.snapshotHandle?.releaseNow({ timeoutMs: o.cleanupTimeoutMs });
            } catch (e) {
              log.warn({ err: (e as Error).message }, `removing the ${BACKUP_SNAPSHOT_NAME} snapshot failed; trying again during cleanup`);
            }
          },
        });
        await partial.releaseNow();
      },
    },
  ];
}

/** A snapshot command cut off by --snapshot-timeout is a snapshot failure (exit 6), not a generic host-command one. */
function asSnapshotTimeout(e: unknown, timeoutMs: number): VcbError | undefined {
  if (!(e instanceof VcbError) || !(e.cause instanceof TransportError) || e.cause.code !== 'TIMEOUT') return undefined;
  return new VcbError(
    'SNAPSHOT',
    `${e.message}: no answer within --snapshot-timeout ${timeoutMs / 1000} s (the host may still be working on it; the run removes the snapshot if it appeared)`,
    { ...e.context },
    { cause: e },
  );
}

/** True when a host command ended without the host's answer (timeout, dropped connection, interrupt). */
function unanswered(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (c instanceof TransportError) return c.code === 'TIMEOUT' || c.code === 'SOCKET' || c.code === 'ABORTED';
    if (c instanceof VcbError && c.code === 'INTERRUPTED') return true;
  }
  return false;
}

/** Removes the backup snapshot this run created (matched by name and the run's description), never any other; returns how many. */
export async function removeOurSnapshot(session: HostSession, ref: VmRef, description: string, timeoutMs: number, log: Logger): Promise<number> {
  return withReconnect(session.transport, async () => {
    const snaps = await session.esx.listSnapshots(ref);
    let removed = 0;
    for (const s of snaps.filter((x) => x.name === BACKUP_SNAPSHOT_NAME && x.description === description)) {
      // The first removal finds its snapshot in the listing just made; after it, the tree has changed.
      await session.esx.removeSnapshot(ref, s, { timeoutMs, ...(removed === 0 ? { listing: snaps } : {}) });
      removed++;
      log.info({ vm: ref.name, snapshot: s.id ?? s.name }, 'backup snapshot removed');
    }
    return removed;
  });
}

export async function runBackup(o: BackupOptions, deps: BackupDeps): Promise<BackupResult> {
  const { log } = deps;
  const runId = newRunId();
  const startedAt = new Date().toISOString();
  const stateDir = resolveStateDir(o.stateDir);
  const dir = resolve(o.dir);
  const selector = parseSelector(o.selector);
  if (o.type !== 'fullvm') throw new VcbError('USAGE', `-t ${o.type} is not available yet: this version does image-level backups only (-t fullvm)`);
  if (o.mode === 'hotadd') {
    throw new VcbError('USAGE', '-m hotadd needs the backup proxy to be a VM on the same host, with the snapshot disks hot-added to it; this proxy reaches the host over SSH: use -m nbd (through the host) or -m san (read the LUN directly)');
  }
  // The hashing thread starts while the host is reached, not when the first block is complete.
  if (!o.dryRun) sharedHashThread().warm();
  const session = await (deps.openSession ?? ((x) => openHostSession(x, log)))(o);
  try {
    const vm = await withStep('resolve', () => resolveVm(session.esx, selector));
    log.info({ vm: vm.ref.name, id: vm.ref.id, power: vm.info.powerState }, 'VM found');
    const lock = acquireVmLock({
      stateDir,
      host: session.label,
      vm: vm.ref.name,
      runId,
      argv: ['-h', o.host, '-a', o.selector, '-r', dir, '-t', o.type],
      onWarning: (m) => log.warn(m),
    });
    try {
      for (const run of listOpenRuns(stateDir, { host: session.label, vm: vm.ref.name })) {
        if (run.runId === runId || run.pidAlive !== false) continue;
        log.warn({ run: run.runId, pid: run.pid, outstanding: run.outstanding.length }, `releasing what an interrupted run (${run.runId}) left behind`);
        await recoverRun(run, session, vm.ref, stateDir, log);
      }
      const journal = Journal.open({ stateDir, host: session.label, vm: vm.ref.name, runId });
      const ctx: Ctx = {
        signal: deps.signal,
        undo: new UndoStack(journal),
        journal,
        log,
        vm: vm.ref.name,
        s: { disks: [], skipped: [], quiesced: false, warnings: [] },
        unwindTimeoutMs: o.cleanupTimeoutMs,
      };
      try {
        await runSteps(planSteps({ o, deps, runId, dir, session, vm }), ctx);
      } catch (e) {
        throw leftBehind(e, ctx, dir, o.port === 22 ? o.host : `${o.host} --port ${o.port}`);
      }
      const r = ctx.s.result!;
      return {
        runId,
        vm: { name: vm.ref.name, id: vm.ref.id },
        dir,
        quiesced: ctx.s.quiesced,
        disks: r.disks,
        skipped: r.skipped,
        warnings: ctx.s.warnings,
        startedAt,
        endedAt: new Date().toISOString(),
        bytes: r.bytes,
      };
    } finally {
      lock.release();
    }
  } finally {
    await session.transport.close().catch(() => {});
  }
}

/**
 * Whatever stopped the run, if the unwind could not release something (our snapshot on the host, say), the
 * error becomes CLEANUP (exit 8): that is what the admin must act on. The message keeps the original error first.
 */
function leftBehind(e: unknown, ctx: Ctx, dir: string, hostFlags: string): unknown {
  const left = ctx.undo.pending;
  if (left.length === 0 || !(e instanceof VcbError)) return e;
  const done = ctx.s.result ? `the backup in ${dir} is complete, but ` : '';
  const what = left.map((l) => l.description).join(', ');
  const msg = e.code === 'CLEANUP' ? e.message.replace(/; run `vcbmounter cleanup` to release what was left$/, '') : e.message;
  return new VcbError(
    'CLEANUP',
    `${msg}; ${done}left behind: ${what}; run \`vcbmounter cleanup -h ${hostFlags} ...\` (same --state-dir) to release it`,
    { ...e.context },
    { cause: e },
  );
}

async function withStep<T>(step: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof VcbError && !e.context.step) (e.context as { step?: string }).step = step;
    throw e;
  }
}

/** The steps a run would take, for --dry-run (nothing is contacted). */
export function dryRunPlan(o: BackupOptions): string[] {
  const fake = { ref: { id: '?', name: o.selector, vmxPath: '?' }, info: { name: o.selector, powerState: 'on' as const, vmxPath: '?' } };
  const steps = planSteps({ o, deps: { log: undefined as unknown as Logger, signal: new AbortController().signal }, runId: 'dry-run', dir: resolve(o.dir), session: { label: `${o.host}:${o.port}` } as HostSession, vm: fake });
  return [
    `1. connect: log in to ${o.user}@${o.host}:${o.port} over SSH and detect the host's command set`,
    `2. resolve: find the VM ${o.selector}`,
    `3. lock: take the per-VM lock and open the run journal`,
    ...describePlan(steps).map((l) => l.replace(/^(\d+)\./, (_, n: string) => `${Number(n) + 3}.`)),
  ];
}
