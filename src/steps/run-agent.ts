// Step agent (--agent): the backup program runs on the ready export or mount; its exit status is the run's.

import { runAgent, type AgentValues } from '../agent/run-agent.js';
import { presetArgv } from '../agent/presets.js';
import type { JobContext, JobStep } from './step.js';

/** What the agent is told about this backup ({dir}, {vm}, ... and VCB_*). */
export function agentValues(ctx: JobContext): AgentValues {
  const { job, o } = ctx;
  return {
    dir: ctx.dir,
    vm: job.vm!.ref.name,
    type: o.type,
    host: job.session!.label,
    time: job.snapshotTakenAt ?? new Date().toISOString(),
    runId: ctx.runId,
  };
}

export const agent: JobStep = {
  name: 'agent',
  describe: (o, dir) =>
    `run the agent on ${dir}${o.agentShell ? ' with sh' : ''}: ${o.agentPreset ? `the ${o.agentPreset} preset (repository and password from its environment)` : (o.agent ?? '(none)')} (at most ${Math.round(o.agentTimeoutMs / 1000)} s)`,
  acquires: [],
  errorCode: 'AGENT',
  hostCommands: [],
  writesDestination: false,
  async run(ctx) {
    const { o } = ctx;
    const values = agentValues(ctx);
    await runAgent({
      command: o.agent ?? '',
      ...(o.agentPreset ? { argv: presetArgv(o.agentPreset, values) } : {}),
      shell: o.agentShell,
      timeoutMs: o.agentTimeoutMs,
      signal: ctx.signal,
      log: ctx.log,
      values,
    });
  },
};
