// Steps hook-<phase> (--hook): the user's script at backup-start, pre-snapshot, post-snapshot and backup-end; its failure stops the run there.

import { runHook, type HookPhase, type HookValues } from '../hooks/run-hook.js';
import { hostLabel } from '../workflow/host-flags.js';
import type { JobContext, JobStep } from './step.js';

/** What a hook is told about this VM's backup so far. */
export function backupHookValues(ctx: JobContext): HookValues {
  const { job, o } = ctx;
  return {
    ...(job.vm ? { vm: job.vm.ref.name } : {}),
    selector: o.selector,
    dir: ctx.dir,
    host: job.session?.label ?? hostLabel(o),
    type: o.type,
    runId: ctx.runId,
    ...(job.snapshotTakenAt ? { snapshotTime: job.snapshotTakenAt } : {}),
  };
}

const WHEN: Partial<Record<HookPhase, string>> = {
  'backup-start': 'the VM is found; nothing is held yet',
  'pre-snapshot': 'just before the snapshot: quiesce your application here',
  'post-snapshot': 'the snapshot exists: resume your application here',
  'backup-end': 'the export or mount is ready',
};

export function hookStep(phase: HookPhase): JobStep {
  return {
    name: `hook-${phase}`,
    describe: (o) => `run the hook: ${o.hook ?? '(none)'} ${phase}, at most ${Math.round(o.hookTimeoutMs / 1000)} s; ${WHEN[phase] ?? phase}`,
    acquires: [],
    errorCode: 'HOOK',
    hostCommands: [],
    writesDestination: false,
    async run(ctx) {
      const values = backupHookValues(ctx);
      await runHook({ file: ctx.o.hook!, timeoutMs: ctx.o.hookTimeoutMs, log: ctx.log, signal: ctx.signal }, phase, phase === 'backup-end' ? { ...values, status: 'ok' } : values);
    },
  };
}
