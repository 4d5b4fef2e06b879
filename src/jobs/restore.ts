// The restore job (vcbRestore's role): a fullvm export uploaded to a datastore as thin disks and registered, on the step engine.

import { resolve as resolvePath } from 'node:path';
import { leftBehindAdvice, runSteps } from '../engine/index.js';
import { VcbError } from '../errors.js';
import { drillConflict } from '../restore/drill.js';
import { hostFlags } from '../workflow/host-flags.js';
import type { RestoreOptions } from '../workflow/restore-options.js';
import { readCatalog } from '../steps/restore-read-catalog.js';
import { restoreConnect } from '../steps/restore-connect.js';
import { checkTarget } from '../steps/restore-check-target.js';
import { checkSpace } from '../steps/restore-check-space.js';
import { replaceExisting } from '../steps/restore-replace-existing.js';
import { makeDirectory } from '../steps/restore-make-dir.js';
import { uploadDisks } from '../steps/restore-upload-disks.js';
import { uploadFiles } from '../steps/restore-upload-files.js';
import { registerVm } from '../steps/restore-register.js';
import { powerOn } from '../steps/restore-power-on.js';
import { finishRestore } from '../steps/restore-finish.js';
import { waitForHeartbeat } from '../steps/restore-drill-heartbeat.js';
import { removeDrillVm } from '../steps/restore-drill-remove.js';
import type { RestoreContext, RestoreDeps, RestoreState, RestoreStep } from '../steps/restore-step.js';
import { engineSteps, leftBehindError, openRunFrame } from './run-frame.js';

/** The steps in order: everything that can refuse comes before the first change on the host. */
export const RESTORE_STEPS: readonly RestoreStep[] = [readCatalog, restoreConnect, checkTarget, checkSpace, replaceExisting, makeDirectory, uploadDisks, uploadFiles, registerVm, powerOn, finishRestore];

/**
 * --drill: the same restore under a temporary name, then the proof and the removal. Nothing is ever kept: the
 * drill VM's releases (power off and unregister, delete its directory) run in the last step, or in the unwind
 * whatever stops the run first (a timeout, a refused power-on, an interrupt).
 */
export const DRILL_STEPS: readonly RestoreStep[] = [readCatalog, restoreConnect, checkTarget, checkSpace, makeDirectory, uploadDisks, uploadFiles, registerVm, powerOn, waitForHeartbeat, removeDrillVm];

export function restoreSteps(o: Pick<RestoreOptions, 'drill'>): readonly RestoreStep[] {
  return o.drill ? DRILL_STEPS : RESTORE_STEPS;
}

export interface RestoreResult {
  runId: string;
  /** The restored VM as registered. */
  vm: { name: string; id: string; vmx: string };
  source: string;
  datastore: string;
  folder: string;
  /** What the .vmx tells the host: "keep" (moved: same identity) or "create" (copied: new BIOS uuid and MAC). */
  uuidAction: 'keep' | 'create';
  /** The VM -b overwrite replaced. */
  replaced?: string;
  poweredOn: boolean;
  /** --drill: the guest's heartbeat (proof that the backup boots), and the drill VM removed again. */
  drill?: { booted: true; heartbeatAfterMs: number; evidence: string; removed: boolean };
  /** Bytes of the disks' allocated blocks, and what was sent over SSH for them. */
  bytesTotal: number;
  bytesSent: number;
  disks: Array<{ slot: string; capacity: number; descriptor: string; blocks: number }>;
  warnings: string[];
  startedAt: string;
  endedAt: string;
}

/** --dry-run: the steps, each with what it would do, and where the VM would go as far as the catalog alone tells. */
export function restoreDryRun(o: RestoreOptions): string[] {
  return restoreSteps(o).map((s, i) => `${i + 1}. ${s.name}: ${s.describe(o)}${s.acquires.length ? ` [acquires ${s.acquires.join(', ')}]` : ''}`);
}

export async function runRestore(o: RestoreOptions, deps: RestoreDeps): Promise<RestoreResult> {
  const { log } = deps;
  const conflict = drillConflict(o);
  if (conflict) throw new VcbError('USAGE', conflict);
  const job: RestoreState = { sourceDir: resolvePath(o.source), blocks: [], bytesTotal: 0, bytesSent: 0, poweredOn: false, warnings: [] };
  // A release after a dropped connection logs in again (the transport refuses once the run closed it for good).
  const host = async () => {
    const session = job.session!;
    if (!session.transport.isConnected()) await session.transport.reconnect();
    return session;
  };
  const frame = openRunFrame({
    signal: deps.signal,
    log,
    unwindTimeoutMs: o.cleanupTimeoutMs,
    stateDir: o.stateDir,
    journal: () => ({ host: job.session!.label, vm: job.name ?? job.catalog?.vm.name ?? 'restore' }),
    release: { host, hostFlags: hostFlags(o), warn: (w: string) => job.warnings.push(w) },
    onHolding: deps.onHolding,
  });
  const { runId } = frame.context;
  const ctx: RestoreContext = {
    ...frame.context,
    o,
    deps,
    job,
    get vm() {
      return job.name;
    },
  };
  const steps = engineSteps(restoreSteps(o), (s) => s.describe(o), ctx);
  try {
    await runSteps(steps, ctx);
  } catch (e) {
    throw leftBehind(e, ctx);
  } finally {
    await job.session?.transport.close().catch(() => {});
  }
  const plan = job.plan!;
  return {
    runId,
    vm: { name: plan.name, id: job.registered!.id, vmx: plan.bracketVmx },
    source: job.sourceDir,
    datastore: plan.datastore,
    folder: plan.folder,
    uuidAction: plan.uuidAction,
    ...(job.existing ? { replaced: job.existing.name } : {}),
    poweredOn: job.poweredOn,
    ...(job.heartbeat ? { drill: { booted: true as const, heartbeatAfterMs: job.heartbeat.afterMs, evidence: job.heartbeat.evidence, removed: job.removed === true } } : {}),
    bytesTotal: job.bytesTotal,
    bytesSent: job.bytesSent,
    disks: plan.disks.map((d, i) => ({ slot: d.slot, capacity: d.capacity, descriptor: d.descriptorPath, blocks: job.blocks[i]!.length })),
    warnings: job.warnings,
    startedAt: frame.startedAt,
    endedAt: new Date().toISOString(),
  };
}

/** As the backup's: whatever stopped the run, something the unwind could not give back makes it CLEANUP (exit 8), named with the command to run. */
function leftBehind(e: unknown, ctx: RestoreContext): unknown {
  return leftBehindError(e, ctx.undo, (error, left) => `${error.message}; ${leftBehindAdvice(left, `vcbmounter cleanup -h ${hostFlags(ctx.o)} ...`)}`);
}
