// Hands a ready export or mount to the backup program (--agent): its argv with placeholders filled, VCB_* variables, output to the log, a time bound.

import { execa } from 'execa';
import { parse } from 'shell-quote';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { shellQuote } from '../util/shell-quote.js';

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

/** Variables of vcbmounter's own environment an agent must not inherit (a password source). */
const WITHHELD_ENV = ['VCBMOUNTER_PASSWORD'];

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
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !WITHHELD_ENV.includes(name)) env[name] = value;
  return {
    ...env,
    VCB_DIR: values.dir,
    VCB_VM: values.vm,
    VCB_TYPE: values.type,
    VCB_HOST: values.host,
    VCB_SNAPSHOT_TIME: values.time,
    VCB_RUN_ID: values.runId,
  };
}

export interface AgentRun {
  command: string;
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
  const [file, args] = run.shell
    ? ['/bin/sh', ['-c', fillPlaceholders(run.command, values, shellQuote)]]
    : (() => {
        const argv = agentArgv(run.command).map((w) => fillPlaceholders(w, values));
        return [argv[0]!, argv.slice(1)] as const;
      })();
  // For messages: the program's argv[0], or the shell command whole.
  const name = run.shell ? `sh -c ${shellQuote(run.command)}` : file;
  const agentLog = log.child({ agent: name });
  agentLog.info({ argv: [file, ...args] }, 'running the agent');
  const started = Date.now();
  // execa hands a generator each line of the stream; yielding nothing keeps it out of the (unbuffered) result.
  const toLog = (stream: 'stdout' | 'stderr') =>
    function* (line: unknown) {
      if (typeof line === 'string' && line.trim()) agentLog.info({ stream }, line);
    };
  const child = execa(file, args, {
    env: agentEnv(values),
    extendEnv: false,
    stdin: 'ignore',
    stdout: toLog('stdout'),
    stderr: toLog('stderr'),
    timeout: run.timeoutMs,
    cancelSignal: run.signal,
    forceKillAfterDelay: 10_000,
    reject: false,
    buffer: false,
  });
  const result = await child;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.exitCode === 0 && !result.failed) {
    agentLog.info({ seconds: Number(seconds) }, 'the agent finished');
    return;
  }
  let why: string;
  if (result.isCanceled) why = 'was stopped: vcbmounter was interrupted';
  else if (result.timedOut) why = `did not finish within --agent-timeout (${run.timeoutMs / 1000} s) and was killed`;
  else if (result.signal) why = `was killed by ${result.signal}`;
  else if (result.exitCode !== undefined) why = `exited with status ${result.exitCode}`;
  else why = `could not be started: ${result.originalMessage ?? result.shortMessage}`;
  throw new VcbError('AGENT', `the agent ${name} ${why} after ${seconds} s; its output is in the log`);
}
