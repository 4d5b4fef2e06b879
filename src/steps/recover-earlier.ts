// Step recover: release what earlier runs of this VM left when they died (their journals are still open).

import { listOpenRuns } from '../engine/index.js';
import type { JobStep } from '../jobs/job.js';
import { recoverRun } from '../workflow/recover.js';

export const recover: JobStep = {
  name: 'recover',
  describe: () => 'release what interrupted runs of this VM left behind (from their journals)',
  acquires: [],
  errorCode: 'CLEANUP',
  hostCommands: ['^vim-cmd vmsvc/snapshot\\.(get|remove)', '^vmware-cmd .*(hassnapshot|removesnapshots)', '^cat '],
  writesDestination: false,
  async run(ctx) {
    const session = ctx.job.session!;
    for (const run of listOpenRuns(ctx.stateDir, { host: session.label, vm: ctx.job.vm!.ref.name })) {
      if (run.runId === ctx.runId || run.pidAlive !== false) continue;
      ctx.log.warn({ run: run.runId, pid: run.pid, outstanding: run.outstanding.length }, `releasing what an interrupted run (${run.runId}) left behind`);
      // What cannot be released yet (a create the host may still finish) stays in that run's journal for
      // cleanup; this backup goes on, and the snapshots step stops it if that run's snapshot is there.
      try {
        await recoverRun(run, { stateDir: ctx.stateDir, log: ctx.log, host: async () => session, cleanupTimeoutMs: ctx.o.cleanupTimeoutMs });
      } catch (e) {
        ctx.log.warn({ run: run.runId, err: (e as Error).message }, 'could not release everything an interrupted run left; "vcbmounter cleanup" will try again');
      }
    }
  },
};
