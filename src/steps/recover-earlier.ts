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
      await recoverRun(run, { stateDir: ctx.stateDir, log: ctx.log, host: async () => session, cleanupTimeoutMs: ctx.o.cleanupTimeoutMs });
    }
  },
};
