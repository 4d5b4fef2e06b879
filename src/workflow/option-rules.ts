// Option combinations a backup cannot carry out, refused before anything is contacted (the CLI's flags and job files alike).

import { VcbError } from '../errors.js';
import { agentArgv } from '../agent/run-agent.js';
import { checkPresetEnv } from '../agent/presets.js';
import type { BackupOptions } from './options.js';

/** Throws USAGE naming the flags (as `name` spells them) that cannot go together. */
export function refuseBadCombinations(o: BackupOptions, name: (option: string) => string = (x) => x): void {
  if (o.agentShell && !o.agent) throw new VcbError('USAGE', `${name('--agent-shell')} needs ${name('--agent')} COMMAND`);
  if (o.agent && o.agentPreset) throw new VcbError('USAGE', `${name('--agent')} and ${name('--agent-preset')} ${o.agentPreset}: give one of them (the preset is a ready agent)`);
  if (o.agent && !o.agentShell) agentArgv(o.agent);
  if (o.agentPreset) checkPresetEnv(o.agentPreset);
  if (o.stream && !o.agent && !o.agentPreset) throw new VcbError('USAGE', `${name('--stream')} needs the program to stream into: ${name('--agent')} COMMAND (it reads the tar on its stdin) or ${name('--agent-preset')} restic|borg`);
  if (o.stream && o.type !== 'fullvm') throw new VcbError('USAGE', `${name('--stream')} -t ${o.type}: only a fullvm image can be streamed; -t file mounts the volumes for the agent to read`);
  if (o.stream && !o.monolithic) throw new VcbError('USAGE', `${name('--stream')} -M 0: a stream carries each disk as one flat file (-M 1)`);
}
