// Opens the SSH session and the host driver for a run, with the host key policy the user chose.

import { hostLabel } from './host-flags.js';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { connectEsxHost, type CommandSet, type HostSession } from '../esx/index.js';
import pRetry from 'p-retry';
import { connectSsh, TransportError, type HostKeyPolicy, type SshTransport } from '../transport/index.js';
import { knownHostsName, readKnownHosts, recordedKeyTypes } from '../transport/known-hosts.js';
import type { Logger } from '../log.js';

export interface ConnectOptions {
  host: string;
  port: number;
  user: string;
  password?: string;
  identityFile?: string;
  hostKey?: string;
  knownHosts?: string;
  acceptNewHostKey: boolean;
  commandSet: 'auto' | CommandSet;
  /** See SshConnectOptions.idleTimeoutMs. */
  commandTimeoutMs?: number;
  /** Further tries after a connection failure the network may clear by itself (default 2); never after a refused login or host key. */
  connectRetries?: number;
}

const DEFAULT_CONNECT_RETRIES = 2;
/** First wait before a retry; each further wait doubles (3 s, 6 s, 12 s, ... up to 60 s). */
const FIRST_RETRY_WAIT_MS = 3_000;
const MAX_RETRY_WAIT_MS = 60_000;

/** Socket errors a host being rebooted, a network blip or a busy sshd (MaxStartups) give; worth another try. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EPIPE', 'EAI_AGAIN']);

/**
 * Whether a failed connect may succeed if tried again. A refused login is never retried (each try counts toward
 * the host's lockout), nor a host key failure, nor a name that does not resolve (a typo does not heal).
 */
export function isTransientConnectFailure(error: unknown): boolean {
  if (!(error instanceof TransportError) || error.code !== 'CONNECT') return false;
  if (/timed out after|closed during the SSH handshake/.test(error.message)) return true;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && TRANSIENT_SOCKET_CODES.has(code);
}

export type { HostSession } from '../esx/index.js';

export function hostKeyPolicy(o: ConnectOptions): HostKeyPolicy {
  if (o.hostKey) return { kind: 'fingerprint', fingerprint: o.hostKey };
  return { kind: 'known_hosts', path: o.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'), acceptNew: o.acceptNewHostKey };
}

/** For a host known_hosts has no key for at all: which flags of this command trust it (the transport cannot name them). */
async function unknownHostHint(e: TransportError, o: ConnectOptions): Promise<string> {
  const policy = hostKeyPolicy(o);
  if (e.code !== 'HOST_KEY' || policy.kind !== 'known_hosts' || policy.acceptNew) return '';
  const entries = await readKnownHosts(policy.path).catch(() => []);
  if (recordedKeyTypes(entries, knownHostsName(o.host, o.port)).length > 0) return '';
  return ` To trust it, rerun with --accept-new-host-key (records the key in ${policy.path}) or pin it with --host-key SHA256:...`;
}

async function transportFailure(e: TransportError, o: ConnectOptions, label: string): Promise<VcbError> {
  const code = e.code === 'HOST_KEY' ? 'HOST_KEY' : 'CONNECT';
  const hint = await unknownHostHint(e, o);
  // The transport's connect messages name host:port already ("cannot connect to esx01:22: connection refused ...");
  // prefixing them again would say the endpoint twice.
  const text = e.message.includes(`${o.host}:${o.port}`) ? e.message : `cannot connect to ${label}: ${e.message}`;
  return new VcbError(code, `${text}${hint}`, { step: 'connect' }, { cause: e });
}

/** Logs in and detects the host's command set; `signal` stops waiting between connection retries. */
export async function openHostSession(o: ConnectOptions, log: Logger, signal?: AbortSignal): Promise<HostSession> {
  const label = hostLabel(o);
  if (o.password === undefined && o.identityFile === undefined) {
    throw new VcbError('USAGE', `no credentials for ${o.user}@${label}: give -p PASS, -p - (read stdin), --password-file FILE, VCBMOUNTER_PASSWORD, or -i KEY`);
  }
  let privateKey: Buffer | undefined;
  if (o.identityFile) {
    try {
      privateKey = readFileSync(o.identityFile);
    } catch (e) {
      throw new VcbError('USAGE', `-i ${o.identityFile}: cannot read the key (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const sshLog = log.child({ layer: 'ssh' });
  let transport: SshTransport;
  try {
    const retries = o.connectRetries ?? DEFAULT_CONNECT_RETRIES;
    transport = await pRetry(
      () =>
        connectSsh({
          host: o.host,
          port: o.port,
          username: o.user,
          password: o.password,
          privateKey,
          hostKey: hostKeyPolicy(o),
          ...(o.commandTimeoutMs !== undefined ? { idleTimeoutMs: o.commandTimeoutMs } : {}),
          logger: { debug: (obj, msg) => sshLog.trace(obj, msg), warn: (obj, msg) => sshLog.warn(obj, msg) },
        }),
      {
        retries,
        factor: 2,
        minTimeout: FIRST_RETRY_WAIT_MS,
        maxTimeout: MAX_RETRY_WAIT_MS,
        ...(signal ? { signal } : {}),
        shouldRetry: ({ error }) => isTransientConnectFailure(error),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0 && isTransientConnectFailure(error)) {
            log.warn({ host: label, attempt: attemptNumber, of: retries + 1 }, `${error.message}; trying again (--connect-retries ${retries})`);
          }
        },
      },
    );
  } catch (e) {
    if (e instanceof TransportError) throw await transportFailure(e, o, label);
    throw e;
  }
  try {
    const esx = await connectEsxHost(transport, o.commandSet === 'auto' ? undefined : o.commandSet);
    log.debug({ host: label, commandSet: esx.commandSet }, 'connected');
    return { transport, esx, label };
  } catch (e) {
    await transport.close().catch(() => {});
    if (e instanceof TransportError) throw await transportFailure(e, o, label);
    throw e;
  }
}
