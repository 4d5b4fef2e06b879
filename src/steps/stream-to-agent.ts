// Step stream (--stream): the agent reads the export as one tar on its stdin; the snapshot goes as soon as the last disk byte is read.

import { runAgent } from '../agent/run-agent.js';
import { presetArgv, streamName } from '../agent/presets.js';
import { streamVmExport } from '../workflow/export-plan.js';
import { exportDisks, exportParams } from './export-disks.js';
import { agentValues } from './run-agent.js';
import type { JobStep } from './step.js';

export const streamToAgent: JobStep = {
  name: 'stream',
  describe: (o) =>
    `start the agent (${o.agentPreset ? `the ${o.agentPreset} preset` : (o.agent ?? '(none)')}) and stream every disk, the VM's files and the catalog into its stdin as one tar (${o.mode}); the snapshot is removed as soon as the last disk byte is read; nothing is written on this proxy`,
  acquires: [],
  errorCode: 'EXPORT',
  // The same reads of the host as the export's.
  hostCommands: exportDisks.hostCommands,
  writesDestination: false,
  async run(ctx) {
    const { job, o } = ctx;
    const values = agentValues(ctx);
    await runAgent({
      command: o.agent ?? '',
      ...(o.agentPreset ? { argv: presetArgv(o.agentPreset, values, { stream: streamName(values.vm) }) } : {}),
      shell: o.agentShell,
      timeoutMs: o.agentTimeoutMs,
      signal: ctx.signal,
      log: ctx.log,
      values,
      feed: async (stdin) => {
        job.streamed = await streamVmExport(exportParams(ctx), stdin);
      },
    });
  },
};
