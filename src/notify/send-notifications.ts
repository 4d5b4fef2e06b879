// Sends a run's summary to every target at once; each is bounded by its own time, and one failing never stops or fails another.

import type { RunSummary } from '../jobfile/summary-types.js';
import type { Logger } from '../log.js';
import { describeTarget, isCommandTarget, isWebhookTarget, type NotifyTarget, type NotifyWhen } from './schema.js';
import { secretEnvNames } from './secrets.js';
import { sendCommand } from './send-command.js';
import { sendEmail } from './send-email.js';
import { sendWebhook } from './send-webhook.js';

export const DEFAULT_NOTIFY_TIMEOUT_MS = 60_000;
/**
 * After its time, a target is given this long to clean up (a command is sent SIGTERM, then SIGKILL) before it is
 * reported as failed regardless: a sender that ignores its abort must not hold the run.
 */
const HARD_GRACE_MS = 12_000;

export interface NotifyOptions {
  log: Logger;
  /** Per target, all its tries included; default 60 s. */
  timeoutMs?: number;
  /** Stops every target (an interrupted run). */
  signal?: AbortSignal;
  /**
   * More environment variables a command target's program must not inherit (the job's hosts' passwordEnv); those the
   * targets themselves read secrets from (env: headers, email passwordEnv) are withheld anyway.
   */
  withholdEnv?: readonly string[];
}

export interface NotifyResult {
  /** The target as messages name it, without secrets: "command /usr/local/bin/backup-notify", "webhook https://hooks.example.com/…". */
  target: string;
  ok: boolean;
  /** True when `when` said not to send for this summary (ok is then true). */
  skipped?: boolean;
  error?: string;
}

/** Whether a target with this `when` is sent for a run that ended with `status`. */
export function wants(when: NotifyWhen | undefined, status: RunSummary['status']): boolean {
  if (when === 'failure') return status !== 'ok';
  if (when === 'success') return status === 'ok';
  return true;
}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

async function sendOne(target: NotifyTarget, name: string, summary: RunSummary, log: Logger, timeoutMs: number, signal: AbortSignal | undefined, withholdEnv: readonly string[]): Promise<void> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const bounded = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let hardTimer: NodeJS.Timeout | undefined;
  const hardLimit = new Promise<never>((_, reject) => {
    hardTimer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs / 1000} s (and did not stop when told to)`)), timeoutMs + HARD_GRACE_MS);
  });
  const sending = (async () => {
    // A command keeps its own clock (runProgram kills it and says so); the others stop on the bounded signal.
    if (isCommandTarget(target)) return sendCommand(target, summary, { log, timeoutMs, signal, name, withholdEnv });
    if (isWebhookTarget(target)) return sendWebhook(target, summary, { log, timeoutMs, signal: bounded });
    return sendEmail(target, summary, { log, timeoutMs, signal: bounded });
  })();
  sending.catch(() => {});
  try {
    await Promise.race([sending, hardLimit]);
  } catch (e) {
    if (signal?.aborted && (isAbort(e) || bounded.aborted)) throw new Error('stopped: vcbmounter was interrupted');
    if (timeout.aborted && isAbort(e)) throw new Error(`did not finish within ${timeoutMs / 1000} s`);
    throw e;
  } finally {
    clearTimeout(hardTimer);
  }
}

/**
 * Sends `summary` to each target whose `when` matches, all at once. Never throws: each target's outcome is in the
 * result, in the targets' order, and in the log (a failure as a warning naming the target and why).
 */
export async function sendNotifications(targets: NotifyTarget[], summary: RunSummary, opts: NotifyOptions): Promise<NotifyResult[]> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS;
  const withholdEnv = [...secretEnvNames(targets), ...(opts.withholdEnv ?? [])];
  return Promise.all(
    targets.map(async (target, i): Promise<NotifyResult> => {
      let name: string;
      try {
        name = `notify[${i}] ${describeTarget(target)}`;
      } catch {
        name = `notify[${i}]`;
      }
      const log = opts.log.child({ notify: name });
      if (!wants(target.when, summary.status)) {
        log.debug({ when: target.when, status: summary.status }, 'not sent: when does not match the run');
        return { target: name, ok: true, skipped: true };
      }
      try {
        await sendOne(target, name, summary, log, timeoutMs, opts.signal, withholdEnv);
        log.info('notification sent');
        return { target: name, ok: true };
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        log.warn(`notification failed: ${error}`);
        return { target: name, ok: false, error };
      }
    }),
  );
}
