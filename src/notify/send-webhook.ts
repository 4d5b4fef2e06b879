// A `webhook:` notification: the summary POSTed as JSON, transient failures (network, 5xx, 429) tried again with backoff within the target's time.

import pRetry from 'p-retry';
import type { RunSummary } from '../jobfile/summary-types.js';
import type { Logger } from '../log.js';
import { TOOL_VERSION } from '../version.js';
import { resolveHeaders } from './secrets.js';
import type { WebhookTarget } from './schema.js';

/** Three tries at most: a receiver that is down for longer will not be up before the next run either. */
const TRIES = 3;
const FIRST_RETRY_WAIT_MS = 1000;

/** An answer that says the receiver may take the same request a moment later. */
class TransientHttpError extends Error {}

function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

/** The first line of a response body, short: receivers explain a 400 there. */
async function bodyExcerpt(res: Response): Promise<string> {
  try {
    const text = (await res.text()).trim().split('\n')[0]!.slice(0, 200);
    return text ? `: ${text}` : '';
  } catch {
    return '';
  }
}

export async function sendWebhook(target: WebhookTarget, summary: RunSummary, o: { log: Logger; timeoutMs: number; signal: AbortSignal }): Promise<void> {
  // Resolved before the first try: a missing variable is a configuration error, not a reason to retry.
  const headers = {
    ...resolveHeaders(target.headers),
    'content-type': 'application/json',
    'user-agent': `vcbmounter/${TOOL_VERSION}`,
  };
  const body = JSON.stringify(summary);
  const attempt = async () => {
    let res: Response;
    try {
      // Redirects are not followed: a 301/302 would turn the POST into a GET and could carry the headers elsewhere.
      res = await fetch(target.webhook, { method: 'POST', headers, body, redirect: 'manual', signal: o.signal });
    } catch (e) {
      if (isAbort(e)) throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new TransientHttpError(`could not POST: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    if (res.status >= 200 && res.status < 300) {
      await res.body?.cancel();
      return;
    }
    const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new Error(`${status}: redirected to ${res.headers.get('location') ?? '(no Location)'}; put the final address in the job file (redirects are not followed)`);
    }
    const why = `${status}${await bodyExcerpt(res)}`;
    if (res.status >= 500 || res.status === 429) throw new TransientHttpError(why);
    throw new Error(why);
  };
  // An abort (the target's time ran out, or the run was interrupted) is rethrown as it is: the caller words it.
  await pRetry(attempt, {
    retries: TRIES - 1,
    minTimeout: FIRST_RETRY_WAIT_MS,
    factor: 2,
    randomize: true,
    maxRetryTime: o.timeoutMs,
    signal: o.signal,
    shouldRetry: ({ error }) => error instanceof TransientHttpError,
    onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
      if (retriesLeft > 0 && error instanceof TransientHttpError) o.log.warn({ attempt: attemptNumber, of: TRIES }, `${error.message}; trying again`);
    },
  });
}
