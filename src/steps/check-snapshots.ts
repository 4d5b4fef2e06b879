// Step snapshots: list the VM's snapshots; a leftover _VCB-BACKUP_ fails the run or is removed (--preexisting-snapshot), never one a live run owns.

import { listOpenRuns } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { SnapshotInfo } from '../esx/index.js';
import type { JobContext, JobStep } from './step.js';
import { planDisks } from '../workflow/disk-plan.js';
import { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';
import { madeBy } from '../workflow/script-snapshot.js';
import { shellQuote } from '../util/shell-quote.js';
import { humanDuration } from '../util/human-units.js';

const OWNER = /^vcbmounter backup run (\S+)$/;

/** Refuses when a leftover belongs to a run whose journal is open and whose process is (or may be) alive. */
function refuseIfOwnedByLiveRun(ctx: JobContext, leftovers: SnapshotInfo[]): void {
  if (leftovers.length === 0) return;
  const open = listOpenRuns(ctx.stateDir);
  for (const s of leftovers) {
    const owner = OWNER.exec(s.description ?? '')?.[1];
    const run = owner ? open.find((r) => r.runId === owner) : undefined;
    if (!run || run.pidAlive === false) continue;
    // A -t file mount holds its snapshot until -U: it never ends by itself, so waiting would not help.
    const mountDir = run.handedOver ? (run.handedOver.dir ?? run.dir) : undefined;
    if (run.handedOver && mountDir) {
      throw new VcbError(
        'LOCKED',
        `${ctx.job.vm!.ref.name} has a ${BACKUP_SNAPSHOT_NAME} snapshot held by the guest volumes mounted at ${mountDir} (run ${run.runId}, mounted ${run.handedOver.at}, ${humanDuration(Date.now() - Date.parse(run.handedOver.at))} ago, served by pid ${run.pid}); it stays until that mount is released: vcbmounter -U ${shellQuote(mountDir)} with the host's flags`,
      );
    }
    const where = run.pidAlive === true ? `pid ${run.pid} on this machine` : `on ${run.hostname || 'another machine'}`;
    throw new VcbError(
      'LOCKED',
      `${ctx.job.vm!.ref.name} has a ${BACKUP_SNAPSHOT_NAME} snapshot that run ${run.runId} (${where}, started ${run.startedAt}) is still using; wait for that backup to end (it removes its snapshot), or stop it and run "vcbmounter cleanup"`,
    );
  }
}

export const checkSnapshots: JobStep = {
  name: 'snapshots',
  describe: () => `list the VM's snapshots; a leftover ${BACKUP_SNAPSHOT_NAME} snapshot fails the run or is removed (--preexisting-snapshot)`,
  acquires: [],
  errorCode: 'SNAPSHOT',
  hostCommands: ['^vim-cmd vmsvc/snapshot\\.(get|remove)', '^vmware-cmd .*(hassnapshot|removesnapshots)', '^cat .*\\.(vmsd|vmx|vmdk)'],
  writesDestination: false,
  async run(ctx) {
    const { job, o, log } = ctx;
    const esx = job.session!.esx;
    const ref = job.vm!.ref;
    const snaps = await esx.listSnapshots(ref);
    const leftovers = snaps.filter((s) => s.name === BACKUP_SNAPSHOT_NAME);
    refuseIfOwnedByLiveRun(ctx, leftovers);
    // A script's `vcbmounter snapshot create` holds its snapshot until `snapshot remove`: never a leftover to delete.
    const held = leftovers.filter((s) => madeBy(s).madeBy === 'snapshot-create');
    if (held.length) {
      throw new VcbError(
        'SNAPSHOT',
        `${ref.name} has a ${BACKUP_SNAPSHOT_NAME} snapshot a script made with \`vcbmounter snapshot create\` (${held.map((s) => s.description).join(', ')}); it belongs to that script, so no backup removes it (not even with --preexisting-snapshot delete): when the script is done, remove it with \`vcbmounter snapshot remove -h ... -a ...\``,
      );
    }
    if (leftovers.length && o.preexistingSnapshot === 'fail') {
      throw new VcbError(
        'SNAPSHOT',
        `${ref.name} already has a ${BACKUP_SNAPSHOT_NAME} snapshot (${leftovers.map((s) => s.description || s.createdOn).join(', ')}), left by a backup that did not finish; if no backup of this VM is running on another proxy, remove it with "vcbmounter cleanup" on the proxy that made it, or pass --preexisting-snapshot delete`,
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
    if (leftovers.length) job.disks = (await planDisks(esx, ref)).disks;
    else job.snapshotsListed = snaps;
  },
};
