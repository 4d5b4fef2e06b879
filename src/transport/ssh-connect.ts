// Opening one authenticated ssh2 connection: host key policy, auth, keepalive, and connect errors mapped to TransportError codes.

import { Client, type CipherAlgorithm, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { TransportError } from './types.js';
import { authOrder } from './auth-order.js';
import { fingerprintSha256 } from './fingerprint.js';
import { prepareHostKeyCheck, type HostKeyPolicy } from './host-key-policy.js';

export interface TransportLogger {
  debug(obj: object, msg: string): void;
  /** What an admin should know about the host (e.g. it allows fewer channels); absent: such notes go to debug. */
  warn?(obj: object, msg: string): void;
}

export interface SshConnectOptions {
  host: string;
  /** Default 22. */
  port?: number;
  username: string;
  /** Used for password and keyboard-interactive auth (ESXi offers the latter). Never logged. */
  password?: string;
  privateKey?: Buffer | string;
  passphrase?: string;
  hostKey: HostKeyPolicy;
  /** TCP connect + SSH handshake + auth. Default 20 s. */
  connectTimeoutMs?: number;
  /** Keepalive probes so idle-timeouts on the host side do not drop long copies. Default 15 s; 0 disables. */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection is declared dead. Default 4. */
  keepaliveCountMax?: number;
  /**
   * A command given no timeoutMs of its own fails with TIMEOUT once the host has sent nothing on its channel
   * for this long (while the reader is not the one holding it back). Default: no bound.
   */
  idleTimeoutMs?: number;
  /** Concurrent SSH channels; further calls queue. Default 4 (hosts typically allow about 10). */
  maxChannels?: number;
  /** Cipher preference; default is ssh2's (AES-GCM first where the CPU has AES, chacha20-poly1305 where not). */
  ciphers?: CipherAlgorithm[];
  /** Gets each remote command line and its exit status at debug level; never credentials. */
  logger?: TransportLogger;
}

export interface OpenConnection {
  client: Client;
  /** SHA256 fingerprint of the key the host presented. */
  fingerprint: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const DEFAULT_KEEPALIVE_MS = 15_000;
const DEFAULT_KEEPALIVE_COUNT = 4;

export function endpointOf(opts: SshConnectOptions): string {
  return `${opts.host}:${opts.port ?? 22}`;
}

interface Ssh2Error extends Error {
  level?: string;
  code?: string;
}

const SOCKET_ERROR_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the host',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
};

/** "connection refused (ECONNREFUSED)": the socket error in words, its code kept for searching. */
function socketErrorInWords(error: Ssh2Error): string {
  const words = error.code && SOCKET_ERROR_WORDS[error.code];
  if (words) return `${words} (${error.code})`;
  return error.code ?? error.message;
}

function connectError(error: Ssh2Error, opts: SshConnectOptions, timeoutMs: number, tried: string[]): TransportError {
  const endpoint = endpointOf(opts);
  switch (error.level) {
    case 'client-authentication': {
      const given = [opts.privateKey !== undefined && 'a key', opts.password !== undefined && 'a password'].filter(Boolean).join(' and ') || 'no credentials';
      const how = tried.length ? `tried: ${tried.join(', ')}` : `the host offers no login method for ${given}`;
      return new TransportError('AUTH', `authentication failed for ${opts.username}@${endpoint} (${how})`, { cause: error });
    }
    case 'client-timeout':
      return new TransportError('CONNECT', `timed out after ${timeoutMs} ms connecting to ${endpoint}`, { cause: error });
    case 'client-socket':
      return new TransportError('CONNECT', `cannot connect to ${endpoint}: ${socketErrorInWords(error)}`, { cause: error });
    default:
      return new TransportError('CONNECT', `SSH handshake with ${endpoint} failed: ${error.message}`, { cause: error });
  }
}

export async function openConnection(opts: SshConnectOptions): Promise<OpenConnection> {
  const port = opts.port ?? 22;
  const timeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const check = await prepareHostKeyCheck(opts.hostKey, opts.host, port);
  const client = new Client();
  const order = authOrder({ key: opts.privateKey !== undefined, password: opts.password !== undefined });
  let hostKeyFailure: TransportError | undefined;
  let fingerprint = '';

  const config: ConnectConfig = {
    host: opts.host,
    port,
    username: opts.username,
    password: opts.password,
    privateKey: opts.privateKey,
    passphrase: opts.passphrase,
    tryKeyboard: opts.password !== undefined,
    authHandler: order.handler,
    readyTimeout: timeoutMs,
    keepaliveInterval: opts.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_MS,
    keepaliveCountMax: opts.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT,
    algorithms: {
      serverHostKey: check.hostKeyAlgorithms as ServerHostKeyAlgorithm[],
      ...(opts.ciphers && { cipher: opts.ciphers }),
    },
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      fingerprint = fingerprintSha256(key);
      check.verify(key).then(
        () => verify(true),
        (error: unknown) => {
          hostKeyFailure =
            error instanceof TransportError
              ? error
              : new TransportError('HOST_KEY', `cannot check the host key of ${endpointOf(opts)}: ${String(error)}`, { cause: error });
          verify(false);
        },
      );
    },
  };

  return new Promise<OpenConnection>((resolve, reject) => {
    let settled = false;
    const settle = (error?: TransportError) => {
      if (settled) return;
      settled = true;
      client.removeListener('ready', onReady);
      if (error) {
        client.destroy();
        reject(error);
      } else {
        resolve({ client, fingerprint });
      }
    };
    const onReady = () => settle();
    client.once('ready', onReady);
    client.on('error', (error: Ssh2Error) => settle(hostKeyFailure ?? connectError(error, opts, timeoutMs, order.tried())));
    client.once('close', () =>
      settle(hostKeyFailure ?? new TransportError('CONNECT', `connection to ${endpointOf(opts)} closed during the SSH handshake`)),
    );
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => opts.password ?? ''));
    });
    // Each command is a few small packets each way; without TCP_NODELAY every one can wait for a delayed ACK.
    client.once('connect', () => (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock?.setNoDelay?.(true));
    try {
      client.connect(config);
    } catch (error) {
      settle(
        new TransportError('AUTH', `cannot use the private key for ${opts.username}@${endpointOf(opts)}: ${(error as Error).message}`, {
          cause: error,
        }),
      );
    }
  });
}
