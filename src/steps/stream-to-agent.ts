// Step stream (--stream): the agent reads the export as one tar on its stdin; the snapshot goes as soon as the last disk byte is read.

import { runAgent, type AgentValues } from '../agent/run-agent.js';
import { presetArgv, streamName } from '../agent/presets.js';
import { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';
import { TOOL_VERSION } from '../version.js';
import { streamVmExport } from '../workflow/export-plan.js';
import { snapshotNoLongerNeeded } from './export-disks.js';
import type { JobStep } from './step.js';

export const streamToAgent: JobStep = {
  name: 'stream',
  describe: (o) =>
    `start the agent (${o.agentPreset ? `the ${o.agentPreset} preset` : (o.agent ?? '(none)')}) and stream every disk, the VM's files and the catalog into its stdin as one tar (${o.mode}); the snapshot is removed as soon as the last disk byte is read; nothing is written on this proxy`,
  acquires: [],
  errorCode: 'EXPORT',
  hostCommands: ['^dd ', '^cat ', '^ls ', '^vmware -v', '^vmkfstools ', '^vim-cmd vmsvc/snapshot\\.(get|remove|consolidate)', '^vim-cmd vmsvc/get\\.summary', '^vmware-cmd .*(hassnapshot|removesnapshots)'],
  writesDestination: false,
  async run(ctx) {
    const { job, o } = ctx;
    const values: AgentValues = {
      dir: ctx.dir,
      vm: job.vm!.ref.name,
      type: o.type,
      host: job.session!.label,
      time: job.snapshotTakenAt ?? new Date().toISOString(),
      runId: ctx.runId,
    };
    await runAgent({
      command: o.agent ?? '',
      ...(o.agentPreset ? { argv: presetArgv(o.agentPreset, values, { stream: streamName(values.vm) }) } : {}),
      shell: o.agentShell,
      timeoutMs: o.agentTimeoutMs,
      signal: ctx.signal,
      log: ctx.log,
      values,
      feed: async (stdin) => {
        job.streamed = await streamVmExport(
          {
            session: job.session!,
            vm: job.vm!,
            disks: job.disks,
            skipped: job.skipped,
            options: o,
            runId: ctx.runId,
            quiesced: job.quiesced,
            warnings: job.warnings,
            snapshotName: BACKUP_SNAPSHOT_NAME,
            toolVersion: TOOL_VERSION,
            signal: ctx.signal,
            log: ctx.log,
            onProgress: ctx.deps.onProgress,
            snapshotId: job.snapshot?.id,
            onDisksRead: () => snapshotNoLongerNeeded(ctx),
          },
          stdin,
        );
      },
    });
  },
};
