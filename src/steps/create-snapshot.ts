// Step snapshot: create the _VCB-BACKUP_ snapshot, quiesced when VMware Tools run; its release is journaled before the create.

import { VcbError } from '../errors.js';
import type { JobStep } from './step.js';
import { settleTime, snapshotDescription } from '../resources/index.js';
import { TransportError } from '../transport/index.js';
import { BACKUP_SNAPSHOT_NAME, unanswered } from '../esx/index.js';
import { checkSnapshotOnPlannedTops, plannedTop } from '../workflow/snapshot-parents.js';


/** The advice each classified failure of a create deserves, first the cause the host named. */
function explain(e: unknown, vm: string, timeoutMs: number): unknown {
  if (!(e instanceof VcbError)) return e;
  if (e.code === 'QUIESCE') {
    return new VcbError('QUIESCE', `${vm}: the quiesced snapshot failed (${e.message}); fix the guest's freeze scripts or VSS, or run with --no-quiesce for a crash-consistent backup`, { ...e.context, vm }, { cause: e });
  }
  if (e.code === 'DATASTORE_FULL') {
    return new VcbError('DATASTORE_FULL', `${vm}: the datastore holding the VM has no room for the snapshot's delta files (${e.message}); free space on it, or move the VM`, { ...e.context, vm }, { cause: e });
  }
  if (e.cause instanceof TransportError && e.cause.code === 'TIMEOUT') {
    return new VcbError('SNAPSHOT', `${e.message}: no answer within --snapshot-timeout ${timeoutMs / 1000} s (the host may still be working on it)`, { ...e.context }, { cause: e });
  }
  return e;
}

export const createSnapshot: JobStep = {
  name: 'snapshot',
  describe: () => `create the ${BACKUP_SNAPSHOT_NAME} snapshot (quiesced when VMware Tools run)`,
  acquires: ['snapshot'],
  errorCode: 'SNAPSHOT',
  hostCommands: ['^vim-cmd vmsvc/snapshot\\.(create|get)', '^vmware-cmd .*(createsnapshot|hassnapshot)', '^cat .*\\.(vmsd|vmx|vmdk)'],
  writesDestination: false,
  async run(ctx) {
    const { job, o, log } = ctx;
    const { ref, info } = job.vm!;
    let quiesce = o.quiesce && info.powerState === 'on';
    if (quiesce && info.toolsRunning === false) {
      if (o.requireQuiesce) throw new VcbError('QUIESCE', `${ref.name}: VMware Tools are not running, so the guest cannot be quiesced, and --require-quiesce is set`);
      const warning = `VMware Tools are not running in ${ref.name}: the backup is crash-consistent, not application-consistent`;
      job.warnings.push(warning);
      log.warn(warning);
      quiesce = false;
    }
    const description = snapshotDescription(ctx.runId);
    const esx = job.session!.esx;
    // ESX 3.x: what tells the run's snapshot apart later, read and journaled before anything is created.
    const baseline = await esx.snapshotBaseline(ref, job.snapshotsListed);
    const handle = ctx.acquire('snapshot', `${BACKUP_SNAPSHOT_NAME} snapshot of ${ref.name}`, {
      host: job.session!.label,
      vmId: ref.id,
      vm: ref.name,
      vmxPath: ref.vmxPath,
      description,
      settleBy: settleTime(Date.now(), o.snapshotTimeoutMs),
      timeoutMs: o.snapshotTimeoutMs,
      ...(baseline ? { baseline } : {}),
      // Where each disk must run again once the snapshot is removed (and consolidated).
      tops: job.disks.map((d) => ({ device: d.device, path: plannedTop(d) })),
    });
    job.snapshotHandle = handle;
    log.info({ quiesce }, `creating ${BACKUP_SNAPSHOT_NAME} snapshot`);
    try {
      job.snapshot = await esx.createSnapshot(ref, {
        name: BACKUP_SNAPSHOT_NAME,
        description,
        quiesce,
        memory: false,
        timeoutMs: o.snapshotTimeoutMs,
        ...(job.snapshotsListed ? { listing: job.snapshotsListed } : {}),
        ...(baseline ? { baseline } : {}),
      });
    } catch (e) {
      // Without an answer the outcome stays unknown in the journal: the release then waits for the host to settle.
      if (!unanswered(e)) handle.update({ outcome: 'failed' });
      throw explain(e, ref.name, o.snapshotTimeoutMs);
    }
    job.snapshotTakenAt = new Date().toISOString();
    const created = job.snapshot.owned?.created;
    handle.update({ outcome: 'created', ...(job.snapshot.id ? { snapshotId: job.snapshot.id } : {}), ...(created ? { created } : {}) });
    if (job.snapshot.owned && job.snapshot.id === undefined) {
      const warning = `the .vmsd of ${ref.name} does not list the ${BACKUP_SNAPSHOT_NAME} snapshot hostd reports (hostd's snapshot file is out of step); the backup recognises its snapshot by hassnapshot and the disk chains instead`;
      job.warnings.push(warning);
      log.warn(warning);
    }
    // The export reads the chains the plan found: they must be what the snapshot froze. ESX 3.x's evidence
    // already checked that every chain grew by the run's one link on its old top.
    if (!baseline) await checkSnapshotOnPlannedTops(esx, ref, job.disks);
    job.quiesced = quiesce;
  },
};
