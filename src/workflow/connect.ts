// Opens the SSH session and the host driver for a run, with the host key policy the user chose.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { connectEsxHost, type CommandSet, type EsxHost } from '../esx/index.js';
import { connectSsh, TransportError, type HostKeyPolicy, type SshTransport } from '../transport/index.js';
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
}

export interface HostSession {
  transport: SshTransport;
  esx: EsxHost;
  /** host:port, for messages, locks and journals. */
  label: string;
}

export function hostKeyPolicy(o: ConnectOptions): HostKeyPolicy {
  if (o.hostKey) return { kind: 'fingerprint', fingerprint: o.hostKey };
  return { kind: 'known_hosts', path: o.knownHosts ?? join(homedir(), '.ssh', 'known_hosts'), acceptNew: o.acceptNewHostKey };
}

function transportFailure(e: TransportError, label: string): VcbError {
  const code = e.code === 'HOST_KEY' ? 'HOST_KEY' : 'CONNECT';
  return new VcbError(code, `cannot connect to ${label}: ${e.message}`, { step: 'connect' }, { cause: e });
}

export async function openHostSession(o: ConnectOptions, log: Logger): Promise<HostSession> {
  const label = o.port === 22 ? o.host : `${o.host}:${o.port}`;
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
    transport = await connectSsh({
      host: o.host,
      port: o.port,
      username: o.user,
      password: o.password,
      privateKey,
      hostKey: hostKeyPolicy(o),
      logger: { debug: (obj, msg) => sshLog.trace(obj, msg) },
    });
  } catch (e) {
    if (e instanceof TransportError) throw transportFailure(e, label);
    throw e;
  }
  try {
    const esx = await connectEsxHost(transport, o.commandSet === 'auto' ? undefined : o.commandSet);
    log.debug({ host: label, commandSet: esx.commandSet }, 'connected');
    return { transport, esx, label };
  } catch (e) {
    await transport.close().catch(() => {});
    if (e instanceof TransportError) throw transportFailure(e, label);
    throw e;
  }
}
