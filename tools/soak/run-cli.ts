// Runs the real vcbmounter bin as a child process (as the tests do), optionally sending it a signal at a chosen moment.

import { execa } from 'execa';
import { binCommand } from '../test-support/bin-command.js';
import type { SoakHost } from './host.js';
import type { SignalPlan } from './plan.js';

export interface CliOutcome {
  /** undefined when the process was ended by a signal. */
  exitCode: number | undefined;
  /** The signal that ended it, if one did. */
  signal: string | undefined;
  stdout: string;
  stderr: string;
  seconds: number;
  /** The run outlived its bound and was killed (a hang: always unexpected). */
  timedOut: boolean;
  /** When the planned signal was sent; undefined if the run ended first. */
  signalSentAfterMs?: number;
  pid?: number;
}

export interface CliRunOptions {
  /** Environment for the child (TMPDIR pointing into the soak's work dir). */
  env: Record<string, string>;
  /** Kill bound: no cycle of the soak should come near it. */
  timeoutMs?: number;
  signal?: { plan: SignalPlan; host: SoakHost };
  /** Track the child while it runs (the final check looks for survivors). */
  onSpawn?: (pid: number) => void;
}

/**
 * Runs the CLI once. If the bin could not even load its bundle (dist/app/ missing: an `npm run build` running
 * beside the soak on a shared work tree deletes it for a moment), the run never started, so it is started
 * again, a few times, after a pause.
 */
export async function runCli(args: string[], opts: CliRunOptions): Promise<CliOutcome> {
  for (let attempt = 1; ; attempt++) {
    const r = await runOnce(args, opts);
    const notLoaded = r.exitCode === 1 && r.stderr.includes('ERR_MODULE_NOT_FOUND') && r.stderr.includes('dist/app/');
    if (!notLoaded || attempt === 4) return r;
    process.stderr.write(`soak: the CLI could not load dist/app (being rebuilt?); starting it again in 15 s\n`);
    await new Promise((resolve) => setTimeout(resolve, 15_000));
  }
}

async function runOnce(args: string[], opts: CliRunOptions): Promise<CliOutcome> {
  const { command, args: argv } = binCommand(args);
  const t0 = Date.now();
  const child = execa(command, argv, {
    reject: false,
    stdin: 'ignore',
    env: opts.env,
    extendEnv: true,
    timeout: opts.timeoutMs ?? 180_000,
    forceKillAfterDelay: 5_000,
  });
  if (child.pid !== undefined) opts.onSpawn?.(child.pid);
  let sentAt: number | undefined;
  let cancelSignal = () => {};
  if (opts.signal) {
    const { plan, host } = opts.signal;
    let timer: NodeJS.Timeout | undefined;
    const send = () => {
      timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) {
          sentAt = Date.now() - t0;
          child.kill(plan.name);
        }
      }, plan.delayMs);
    };
    let unsubscribe = () => {};
    if (plan.afterCommands === 0) send();
    else {
      // The moment is counted in host commands of this run (only one CLI runs at a time), so it lands in
      // every step of the backup rather than mostly in node's start-up.
      const first = host.started();
      unsubscribe = host.onCommand(() => {
        if (host.started() - first >= plan.afterCommands) {
          unsubscribe();
          send();
        }
      });
    }
    cancelSignal = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  }
  const r = await child;
  cancelSignal();
  return {
    exitCode: r.exitCode ?? undefined,
    signal: r.signal ?? undefined,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    seconds: (Date.now() - t0) / 1000,
    timedOut: r.timedOut === true,
    ...(sentAt !== undefined ? { signalSentAfterMs: sentAt } : {}),
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
  };
}

/** The CLI's own messages on stderr (lines starting "vcbmounter:" or "interrupted:"), without the JSON log lines. */
export function cliMessage(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('{'))
    .join(' | ');
}
