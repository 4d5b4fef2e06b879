// Step recover: release what earlier runs of this VM left when they died (their journals are still open).

import { listOpenRuns } from '../engine/index.js';
import { VcbError } from '../errors.js';
import type { JobStep } from './step.js';
import { hostFlags } from '../workflow/host-flags.js';
import { recoverRun } from '../workflow/recover.js';

export const recover: JobStep = {
  name: 'recover',
  describe: () => 'release what interrupted runs of this VM left behind (from their journals)',
  acquires: [],
  errorCode: 'CLEANUP',
  hostCommands: ['^vim-cmd vmsvc/snapshot\\.(get|remove|consolidate)', '^vim-cmd vmsvc/get\\.summary', '^vmware-cmd .*(hassnapshot|removesnapshots)', '^cat '],
  writesDestination: false,
  async run(ctx) {
    const session = ctx.job.session!;
    for (const run of listOpenRuns(ctx.stateDir, { host: session.label, vm: ctx.job.vm!.ref.name })) {
      if (run.runId === ctx.runId || run.pidAlive !== false) continue;
      ctx.log.warn({ run: run.runId, pid: run.pid, outstanding: run.outstanding.length }, `releasing what an interrupted run (${run.runId}) left behind`);
      // A create the host may still finish stays in that run's journal for cleanup; this backup goes on,
      // and the snapshots step stops it if that run's snapshot appears. Any other failure stops it here.
      try {
        await recoverRun(run, { stateDir: ctx.stateDir, log: ctx.log, host: async () => session, cleanupTimeoutMs: ctx.o.cleanupTimeoutMs });
      } catch (e) {
        if (e instanceof VcbError && e.code === 'CLEANUP') {
          throw new VcbError('CLEANUP', `${e.message}; once the cause is fixed, run \`vcbmounter cleanup -h ${hostFlags(ctx.o)} ...\` (same --state-dir) or back the VM up again`, e.context, { cause: e });
        }
        if (!(e instanceof VcbError) || e.code !== 'SETTLING') throw e;
        ctx.log.warn({ run: run.runId, err: e.message }, 'an interrupted run\'s snapshot create may still complete on the host; "vcbmounter cleanup" settles it later');
      }
    }
  },
};
