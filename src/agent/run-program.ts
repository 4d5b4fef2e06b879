// Runs a user's program (an agent or a hook) to its end: output to the log line by line, a time bound, and how it ended in words.

import type { Writable } from 'node:stream';
import { execa } from 'execa';
import type { Logger } from '../log.js';

/** Variables of vcbmounter's own environment a user's program must not inherit (a password source). */
const WITHHELD_ENV = ['VCBMOUNTER_PASSWORD'];

/** vcbmounter's environment without its secrets, plus `extra`. */
export function programEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !WITHHELD_ENV.includes(name)) env[name] = value;
  return { ...env, ...extra };
}

export interface ProgramRun {
  file: string;
  args: string[];
  env: Record<string, string>;
  timeoutMs: number;
  /** The flag that sets timeoutMs, for the message when it runs out. */
  timeoutFlag: string;
  /** Stops the program as a timeout does (SIGTERM, then SIGKILL); undefined: only the timeout bounds it. */
  signal?: AbortSignal;
  /** Already tagged with the program's name: its lines are logged under it. */
  log: Logger;
  /** How messages name it ("the agent restic"); default its file. */
  name?: string;
  /** Writes the program's stdin (and ends it); without it stdin is /dev/null. */
  feed?: (stdin: Writable) => Promise<void>;
}

export interface ProgramEnd {
  ok: boolean;
  /** How it ended when not ok: "exited with status 3", "was killed by SIGKILL", ... */
  why?: string;
  seconds: number;
  /** feed's error, when it failed while the program ran (the program was then stopped). */
  feedError?: unknown;
}

/** Programs running right now, for a forced exit to name what it leaves running. */
const running = new Map<number, string>();

/** "NAME (pid N)" of every user program still running. */
export function runningPrograms(): string[] {
  return [...running].map(([pid, name]) => `${name} (pid ${pid})`);
}

/** Runs the program; never rejects for the program's own failure (the caller words it). */
export async function runProgram(run: ProgramRun): Promise<ProgramEnd> {
  const started = Date.now();
  // execa hands a generator each line of the stream; yielding nothing keeps it out of the (unbuffered) result.
  const toLog = (stream: 'stdout' | 'stderr') =>
    function* (line: unknown) {
      if (typeof line === 'string' && line.trim()) run.log.info({ stream }, line);
    };
  const feeding = new AbortController();
  const child = execa(run.file, run.args, {
    env: run.env,
    extendEnv: false,
    stdin: run.feed ? 'pipe' : 'ignore',
    stdout: toLog('stdout'),
    stderr: toLog('stderr'),
    timeout: run.timeoutMs,
    cancelSignal: run.signal ? AbortSignal.any([run.signal, feeding.signal]) : feeding.signal,
    forceKillAfterDelay: 10_000,
    reject: false,
    buffer: false,
  });
  if (child.pid !== undefined) running.set(child.pid, run.name ?? run.file);
  let feedError: unknown;
  // The program closed its stdin (it exited, or stopped reading): its own exit status tells what happened.
  let programClosedInput = false;
  let inputCut = false;
  child.stdin?.once('close', () => (programClosedInput = true));
  child.stdin?.once('error', () => (programClosedInput = true));
  // Our feed failing (the host's read broke) stops the program: it must never see an end of input and
  // take half an input for a whole one.
  const fed = run.feed?.(child.stdin!).catch((e: unknown) => {
    if (programClosedInput) {
      inputCut = true;
      return;
    }
    feedError = e;
    feeding.abort();
  });
  const result = await child;
  if (child.pid !== undefined) running.delete(child.pid);
  await fed;
  const seconds = Number(((Date.now() - started) / 1000).toFixed(1));
  if (result.exitCode === 0 && !result.failed && feedError === undefined && !inputCut) return { ok: true, seconds };
  let why: string;
  if (result.isCanceled && run.signal?.aborted) why = 'was stopped: vcbmounter was interrupted';
  else if (result.isCanceled) return { ok: false, why: 'was stopped: its input failed', seconds, feedError };
  else if (result.timedOut) why = `did not finish within ${run.timeoutFlag} (${run.timeoutMs / 1000} s) and was killed`;
  else if (result.signal) why = `was killed by ${result.signal}`;
  else if (result.exitCode === 0) why = 'exited before it read all of its input';
  else if (result.exitCode !== undefined) why = `exited with status ${result.exitCode}`;
  else why = `could not be started: ${result.originalMessage ?? result.shortMessage}`;
  return { ok: false, why, seconds };
}
