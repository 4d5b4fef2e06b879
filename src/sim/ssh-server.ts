// The simulated host's SSH server (ssh2): login methods, session limit and idle close as the host's sshd has them; exec requests run through a shell, no sftp.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ParsedKey, ServerChannel, Session } from 'ssh2';

const { Server, utils } = ssh2;

// The host key helpers live in host-key.ts; transport tests and the benchmarks import them from here too.
export { generateEd25519KeyPair, loadOrCreateHostKey, type HostKey } from './host-key.js';

export interface SshUser {
  username: string;
  password?: string;
  /** OpenSSH public key lines ("ssh-ed25519 AAAA... comment"). */
  authorizedKeys?: string[];
}

export interface ExecIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Aborted when the channel or the connection closes. */
  signal: AbortSignal;
  /** Increments for every exec request (and every line of an interactive shell) the server runs. */
  session: number;
  /** Cuts the client's connection at once: no exit status, no EOF. */
  drop: () => void;
  /** Variables the client sent with "env" requests before this exec. */
  env: Record<string, string>;
}

export type ExecHandler = (line: string, io: ExecIO) => Promise<number>;

export type SshAuthMethod = 'publickey' | 'password' | 'keyboard-interactive';

/** What the host's sshd_config allows; see docs/simulator.md for the values of each host kind. */
export interface SshdPolicy {
  /** Login methods offered (PasswordAuthentication / KbdInteractiveAuthentication / PubkeyAuthentication). */
  authMethods: SshAuthMethod[];
  /** Sessions open at once on one connection (OpenSSH's MaxSessions); one more is refused. */
  maxSessions: number;
  /** A connection with no session open for this long is closed (OpenSSH's UnusedConnectionTimeout); 0: never. */
  unusedConnectionTimeoutMs: number;
}

export const OPENSSH_DEFAULT_POLICY: SshdPolicy = {
  authMethods: ['publickey', 'password', 'keyboard-interactive'],
  maxSessions: 10,
  unusedConnectionTimeoutMs: 0,
};

export interface SshServerOptions {
  /** 0 or absent: a free port. The server listens on 127.0.0.1 only. */
  port?: number;
  hostKey: Buffer | string;
  users: SshUser | SshUser[];
  exec: ExecHandler;
  /** Default: OpenSSH's defaults (all methods, 10 sessions, no idle close). */
  policy?: SshdPolicy;
  /** Told of every login attempt and its outcome (never the password). */
  onAuth?: (attempt: AuthAttempt) => void;
}

export interface AuthAttempt {
  username: string;
  method: string;
  accepted: boolean;
}

export interface SshServerHandle {
  port: number;
  close(): Promise<void>;
  /** Open TCP connections. */
  connections(): number;
}

interface PreparedUser {
  username: string;
  passwordDigest?: Buffer;
  keys: ParsedKey[];
}

const digest = (text: string) => createHash('sha256').update(text).digest();

function prepareUsers(users: SshUser | SshUser[]): PreparedUser[] {
  return (Array.isArray(users) ? users : [users]).map((user) => ({
    username: user.username,
    ...(user.password !== undefined ? { passwordDigest: digest(user.password) } : {}),
    keys: (user.authorizedKeys ?? []).flatMap((line) => {
      const parsed = utils.parseKey(line);
      if (parsed instanceof Error) throw new Error(`authorized key for ${user.username} is not a valid public key: ${parsed.message}`);
      return Array.isArray(parsed) ? parsed : [parsed];
    }),
  }));
}

function passwordMatches(user: PreparedUser | undefined, given: string): boolean {
  const expected = user?.passwordDigest ?? digest('\0no password\0');
  return timingSafeEqual(digest(given), expected) && user?.passwordDigest !== undefined;
}

/** Settles one login attempt; keyboard-interactive asks for the password as ESXi's PAM does. */
function authenticate(ctx: AuthContext, users: PreparedUser[], methods: readonly SshAuthMethod[], told: (accepted: boolean) => void): void {
  const user = users.find((u) => u.username === ctx.username);
  const accept = () => {
    told(true);
    ctx.accept();
  };
  const reject = () => {
    told(false);
    ctx.reject([...methods]);
  };
  if (!(methods as readonly string[]).includes(ctx.method)) return reject();
  if (ctx.method === 'password') return passwordMatches(user, ctx.password) ? accept() : reject();
  if (ctx.method === 'keyboard-interactive') {
    ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers) => (passwordMatches(user, answers[0] ?? '') ? accept() : reject()));
    return;
  }
  if (ctx.method === 'publickey' && user) {
    const key = user.keys.find((k) => k.getPublicSSH().equals(ctx.key.data));
    if (!key) return reject();
    // Without a signature the client only asks whether the key would do: not a login attempt yet.
    if (!ctx.signature || !ctx.blob) return ctx.accept();
    return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true ? accept() : reject();
  }
  reject();
}

export async function startSshServer(opts: SshServerOptions): Promise<SshServerHandle> {
  const users = prepareUsers(opts.users);
  const sockets = new Set<Socket>();
  const clients = new Set<Connection>();
  let nextSession = 1;

  const policy = opts.policy ?? OPENSSH_DEFAULT_POLICY;

  const sshServer = new Server({ hostKeys: [opts.hostKey] }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => {});
    client.on('authentication', (ctx) =>
      authenticate(ctx, users, policy.authMethods, (accepted) => opts.onAuth?.({ username: ctx.username, method: ctx.method, accepted })),
    );
    client.on('ready', () => {
      const unused = unusedConnectionTimer(client, policy.unusedConnectionTimeoutMs);
      let open = 0;
      client.on('session', (acceptSession, rejectSession) => {
        if (open >= policy.maxSessions) return rejectSession();
        open++;
        unused.busy();
        const session = acceptSession();
        session.once('close', () => {
          open--;
          if (open === 0) unused.idle();
        });
        handleSession(session, client, opts.exec, () => nextSession++);
      });
    });
  });
  sshServer.on('error', () => {});

  const netServer: NetServer = createServer((socket) => {
    // Small replies (an exit status after a short output) must not wait out delayed ACKs: 40 ms per command otherwise.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    sshServer.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    netServer.once('error', reject);
    netServer.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = netServer.address();
  if (!address || typeof address === 'string') throw new Error('SSH server has no TCP address');

  return {
    port: address.port,
    connections: () => sockets.size,
    close: async () => {
      const closed = new Promise<void>((resolve) => netServer.close(() => resolve()));
      for (const client of clients) client.end();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Closes the connection once it has had no session for `ms` (armed at login and whenever the last session ends). */
function unusedConnectionTimer(client: Connection, ms: number): { busy(): void; idle(): void } {
  let timer: NodeJS.Timeout | undefined;
  const idle = () => {
    if (ms <= 0) return;
    clearTimeout(timer);
    // sshd exits without a word (cleanup_exit): a channel request already on its way gets no answer at all.
    timer = setTimeout(() => dropConnection(client), ms);
    timer.unref();
  };
  client.once('close', () => clearTimeout(timer));
  idle();
  return { busy: () => clearTimeout(timer), idle };
}

function dropConnection(client: Connection): void {
  const socket = (client as unknown as { _sock?: Socket })._sock;
  if (socket) socket.destroy();
  else client.end();
}

/**
 * An AbortController aborted when the peer closes the channel or the connection ends. ssh2 emits a server
 * channel's 'close' only after its stdin has been read to the end, so a command that never reads stdin would
 * not notice; the writable side finishing (ssh2 ends it on CHANNEL_CLOSE) is the reliable sign.
 */
function watchChannelEnd(channel: ServerChannel, client: Connection): AbortController {
  const controller = new AbortController();
  const abort = () => controller.abort();
  channel.once('close', abort);
  channel.once('finish', abort);
  client.once('close', abort);
  controller.signal.addEventListener('abort', () => client.off('close', abort), { once: true });
  channel.once('close', () => client.off('close', abort));
  return controller;
}

function handleSession(session: Session, client: Connection, exec: ExecHandler, newSessionId: () => number): void {
  const env: Record<string, string> = {};
  session.on('env', (accept, _reject, info) => {
    env[info.key] = info.val;
    accept?.();
  });
  session.on('pty', (accept) => accept?.());
  session.on('window-change', (accept) => accept?.());
  session.on('subsystem', (_accept, reject) => reject?.());
  session.on('sftp', (_accept, reject) => reject?.());
  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    void runOnChannel(channel, info.command, client, exec, newSessionId(), { ...env });
  });
  session.on('shell', (accept) => {
    const channel = accept();
    void runInteractive(channel, client, exec, newSessionId, { ...env });
  });
}

/**
 * ssh2 (1.17) keeps a write that waited for window space in `_chunk` (stdout) / `_chunkErr` (stderr) and
 * replays it on the next window adjust, but never clears it once written. When stderr later waits for
 * window, the adjust replays the stale stdout chunk instead (the client receives it twice) and the stderr
 * write never completes, so no exit status is ever sent. Clearing the fields when a write completes avoids it.
 */
function clearReplayedWrites(channel: ServerChannel): void {
  type Internals = { _write: (d: Buffer, e: unknown, cb: (err?: Error | null) => void) => void; _chunk?: Buffer; _chunkcb?: unknown; _chunkErr?: Buffer; _chunkcbErr?: unknown };
  const ch = channel as unknown as Internals;
  const stderr = channel.stderr as unknown as Internals;
  const out = ch._write.bind(channel);
  ch._write = (data, enc, cb) =>
    out(data, enc, (err) => {
      ch._chunk = undefined;
      ch._chunkcb = undefined;
      cb(err);
    });
  const errOut = stderr._write.bind(channel.stderr);
  stderr._write = (data, enc, cb) =>
    errOut(data, enc, (e) => {
      ch._chunkErr = undefined;
      ch._chunkcbErr = undefined;
      cb(e);
    });
}

async function runOnChannel(channel: ServerChannel, line: string, client: Connection, exec: ExecHandler, session: number, env: Record<string, string>): Promise<void> {
  clearReplayedWrites(channel);
  const controller = watchChannelEnd(channel, client);
  let dropped = false;
  channel.on('error', () => {});
  channel.stderr.on('error', () => {});
  const drop = () => {
    dropped = true;
    dropConnection(client);
    controller.abort();
  };
  let status: number;
  try {
    status = await exec(line, { stdin: channel, stdout: channel, stderr: channel.stderr, signal: controller.signal, session, drop, env });
  } catch (err) {
    channel.stderr.write(`sh: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    status = 1;
  }
  if (dropped || controller.signal.aborted) return;
  // exit-status goes out at once, but data may still wait for window space: send it after the output.
  await Promise.all([drained(channel), drained(channel.stderr)]);
  if (controller.signal.aborted) return;
  channel.exit(status);
  channel.end();
}

/** Resolves once a writable has handed all its buffered data on (or closed). */
async function drained(w: NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean }): Promise<void> {
  while ((w.writableLength ?? 0) > 0 && !w.destroyed) {
    await new Promise<void>((resolve) => {
      const done = () => {
        w.removeListener('drain', done);
        w.removeListener('close', done);
        resolve();
      };
      w.once('drain', done);
      w.once('close', done);
    });
  }
}

/** A minimal interactive shell: runs each line through exec with empty stdin; "exit" ends the session. */
async function runInteractive(channel: ServerChannel, client: Connection, exec: ExecHandler, newSessionId: () => number, env: Record<string, string>): Promise<void> {
  const controller = watchChannelEnd(channel, client);
  channel.on('error', () => {});
  let buffered = '';
  let lastStatus = 0;
  const prompt = '~ # ';
  channel.write(prompt);
  for await (const chunk of channel as AsyncIterable<Buffer>) {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.search(/[\r\n]/)) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === 'exit' || line.startsWith('exit ')) {
        const code = Number(line.slice(5).trim() || lastStatus);
        channel.exit(Number.isInteger(code) ? code : 2);
        channel.end();
        return;
      }
      if (line) {
        let dropped = false;
        lastStatus = await exec(line, {
          stdin: Readable.from([]),
          stdout: channel,
          stderr: channel,
          signal: controller.signal,
          session: newSessionId(),
          drop: () => {
            dropped = true;
            dropConnection(client);
          },
          env,
        });
        if (dropped || controller.signal.aborted) return;
      }
      channel.write(prompt);
    }
  }
  if (!controller.signal.aborted) {
    channel.exit(lastStatus);
    channel.end();
  }
}
