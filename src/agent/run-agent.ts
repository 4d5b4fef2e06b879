// Hands a ready export or mount to the backup program (--agent): its argv with placeholders filled, VCB_* variables, output to the log, a time bound.

import type { Writable } from 'node:stream';
import { parse } from 'shell-quote';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { shellQuote } from '../util/shell-quote.js';
import { programEnv, runProgram } from './run-program.js';

/** What an agent is told about the backup, as {name} placeholders and as VCB_NAME variables. */
export interface AgentValues {
  dir: string;
  vm: string;
  type: string;
  host: string;
  /** ISO 8601, UTC. */
  time: string;
  runId: string;
}

const PLACEHOLDERS: Record<string, keyof AgentValues> = { dir: 'dir', vm: 'vm', type: 'type', host: 'host', time: 'time', runid: 'runId' };

/**
 * Splits --agent's text into argv the way sh splits words (quotes and backslashes), without running a shell:
 * nothing is expanded, and pipes, redirections or `;` are refused (--agent-shell runs the text with sh).
 */
export function agentArgv(command: string): string[] {
  const words = parse(command, (name) => `$${name}`);
  const argv: string[] = [];
  for (const word of words) {
    if (typeof word === 'string') argv.push(word);
    else if ('comment' in word) break;
    else {
      const what = 'op' in word ? `"${word.op}"` : 'a glob';
      throw new VcbError('USAGE', `--agent "${command}": ${what} needs a shell; vcbmounter runs the agent without one: use --agent-shell to run it with sh, or put it in a script`);
    }
  }
  if (argv.length === 0) throw new VcbError('USAGE', '--agent needs a command, e.g. --agent "restic backup {dir}"');
  return argv;
}

/** Replaces {dir}, {vm}, {type}, {host}, {time} and {runid}; `quote` quotes each value (for a shell's text). */
export function fillPlaceholders(text: string, values: AgentValues, quote: (value: string) => string = (v) => v): string {
  return text.replace(/\{([a-z]+)\}/g, (whole, name: string) => {
    const key = PLACEHOLDERS[name];
    return key ? quote(values[key]) : whole;
  });
}

export function agentEnv(values: AgentValues): Record<string, string> {
  return programEnv({
    VCB_DIR: values.dir,
    VCB_VM: values.vm,
    VCB_TYPE: values.type,
    VCB_HOST: values.host,
    VCB_SNAPSHOT_TIME: values.time,
    VCB_RUN_ID: values.runId,
  });
}

export interface AgentRun {
  /** The --agent text; ignored when argv is given. */
  command: string;
  /** A preset's argv, run as it is (no placeholders, no shell). */
  argv?: string[];
  /** --stream: writes the agent's stdin; its failure (reading the host) is the run's error, and stops the agent. */
  feed?: (stdin: Writable) => Promise<void>;
  /** Run the text with /bin/sh -c (placeholders quoted for it) instead of splitting it into argv. */
  shell: boolean;
  timeoutMs: number;
  values: AgentValues;
  signal: AbortSignal;
  log: Logger;
}

/**
 * Runs the agent to its end. Its stdout and stderr go to the log line by line (tagged), never to our stdout.
 * Rejects with VcbError AGENT when it exits non-zero, is killed, or outlives timeoutMs (then SIGTERM, and
 * SIGKILL 10 s later); an abort of `signal` (our own interrupt) stops it the same way.
 */
export async function runAgent(run: AgentRun): Promise<void> {
  const { values, log } = run;
  const [file, args] = run.argv
    ? [run.argv[0]!, run.argv.slice(1)]
    : run.shell
    ? ['/bin/sh', ['-c', fillPlaceholders(run.command, values, shellQuote)]]
    : (() => {
        const argv = agentArgv(run.command).map((w) => fillPlaceholders(w, values));
        return [argv[0]!, argv.slice(1)] as const;
      })();
  // For messages: the program's argv[0], or the shell command whole.
  const name = run.shell && !run.argv ? `sh -c ${shellQuote(run.command)}` : file;
  const agentLog = log.child({ agent: name });
  agentLog.info({ argv: [file, ...args] }, 'running the agent');
  const end = await runProgram({ file, args, env: agentEnv(values), timeoutMs: run.timeoutMs, timeoutFlag: '--agent-timeout', signal: run.signal, log: agentLog, name: `the agent ${name}`, ...(run.feed ? { feed: run.feed } : {}) });
  if (end.feedError !== undefined) throw end.feedError;
  if (end.ok) {
    agentLog.info({ seconds: end.seconds }, 'the agent finished');
    return;
  }
  throw new VcbError('AGENT', `the agent ${name} ${end.why} after ${end.seconds.toFixed(1)} s; its output is in the log`);
}
