// Step export: read every disk into DIR.partial-<run>, remove the snapshot as soon as the last byte is read, then write the VM's files and catalog.

import { VcbError } from '../errors.js';
import { partialDirFor } from '../export/index.js';
import type { JobContext, JobStep } from './step.js';
import { TOOL_VERSION } from '../version.js';
import { writeVmExport, type ExportParams } from '../workflow/export-plan.js';
import { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';

/**
 * Every disk byte is read: the VM stops running on a delta now, while the extents are fsynced and before the
 * catalog is written. A snapshot already gone means something else removed it while the disks were read, and
 * the host committed its delta into the very disks being read: the export is not a point-in-time image.
 * If the host refuses the removal, the export goes on: the final unwind tries again (exit 8 if it cannot).
 */
export async function snapshotNoLongerNeeded(ctx: JobContext): Promise<void> {
  const handle = ctx.job.snapshotHandle!;
  let outcome;
  try {
    outcome = await handle.releaseNow({ timeoutMs: ctx.o.cleanupTimeoutMs });
  } catch (e) {
    ctx.log.warn({ err: (e as Error).message }, `removing the ${BACKUP_SNAPSHOT_NAME} snapshot failed; trying again during cleanup`);
    return;
  }
  if (outcome === 'absent') {
    throw new VcbError(
      'SNAPSHOT',
      `the ${BACKUP_SNAPSHOT_NAME} snapshot of ${ctx.job.vm!.ref.name} was removed by something else while its disks were read, so the disks changed under the read: this export is not consistent and is discarded; make sure no other tool or run removes backup snapshots during a backup`,
    );
  }
}

/** What the exporter needs of this run, whether it writes to -r or streams into an agent; the snapshot goes once every disk byte is read. */
export function exportParams(ctx: JobContext): Omit<ExportParams, 'dir' | 'state'> {
  const { job, o } = ctx;
  return {
    session: job.session!,
    vm: job.vm!,
    disks: job.disks,
    skipped: job.skipped,
    options: o,
    runId: ctx.runId,
    quiesced: job.quiesced,
    cold: job.cold,
    warnings: job.warnings,
    snapshotName: BACKUP_SNAPSHOT_NAME,
    toolVersion: TOOL_VERSION,
    signal: ctx.signal,
    log: ctx.log,
    onProgress: ctx.deps.onProgress,
    snapshotId: job.snapshot?.id,
    onDisksRead: () => snapshotNoLongerNeeded(ctx),
  };
}

/** The state file's content: what -U must release, the directory itself and (if still held) the snapshot on the host. */
function stateContent(ctx: JobContext, withSnapshot: boolean): unknown {
  const { job } = ctx;
  const held: Array<{ kind: string; description: string; resource: Record<string, unknown> }> = [
    { kind: 'export-dir', description: `export directory ${ctx.dir}`, resource: { dir: ctx.dir, runId: ctx.runId } },
  ];
  const snapshot = job.snapshotHandle?.entry;
  if (withSnapshot && snapshot) held.push({ kind: snapshot.kind, description: snapshot.description, resource: snapshot.resource });
  return { format: 'vcbmounter-state', version: 2, runId: ctx.runId, host: job.session!.label, vm: job.vm!.ref.name, vmId: job.vm!.ref.id, type: 'fullvm', held };
}

function stateFile(ctx: JobContext): unknown {
  const listsSnapshot = ctx.job.snapshotHandle?.held ?? false;
  ctx.job.stateFile = { listsSnapshot, content: (withSnapshot) => stateContent(ctx, withSnapshot) };
  return stateContent(ctx, listsSnapshot);
}

export const exportDisks: JobStep = {
  name: 'export',
  describe: (o, dir) => `export every disk and the VM's files to ${dir} (${o.mode}, ${o.monolithic ? 'one extent per disk' : '2 GiB extents'}); the snapshot is removed as soon as the last disk byte is read`,
  acquires: ['partial-dir'],
  errorCode: 'EXPORT',
  hostCommands: ['^dd ', '^cat ', '^ls ', '^vmware -v', '^vmkfstools ', '^vim-cmd vmsvc/snapshot\\.(get|remove|consolidate)', '^vim-cmd vmsvc/get\\.summary', '^vmware-cmd .*(hassnapshot|removesnapshots)'],
  writesDestination: true,
  async run(ctx) {
    const { job } = ctx;
    const partialDir = partialDirFor(ctx.dir, ctx.runId);
    job.partialHandle = ctx.acquire('partial-dir', `unfinished export ${partialDir}`, { partialDir });
    job.exported = await writeVmExport({ ...exportParams(ctx), dir: ctx.dir, state: () => stateFile(ctx) });
  },
};
