// A read-only NBD server on a Unix socket: presents random-access readers (snapshot disks) to nbdfuse, nbdcopy and other NBD clients.

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, lstat, mkdtemp, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import * as P from './protocol.js';

/**
 * A disk as the server reads it. readAt must resolve to exactly `length` bytes, or reject (the client then gets
 * EIO). The buffer is handed to the socket as is: a source must not reuse it for a later read.
 */
export interface BlockSource {
  readonly size: number;
  readAt(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
}

export interface NbdServerOptions {
  socketPath: string;
  /** Named exports, or one source served as the default export (the empty name). */
  exports: Map<string, BlockSource> | BlockSource;
  log?: Logger;
  /** Largest read served in one request (advertised as the maximum block size); larger requests get EINVAL. */
  maxRequestBytes?: number;
}

export interface NbdServer {
  /**
   * Stops listening, drops every connection, and removes the socket file. Resolves once every readAt under way
   * has settled (each has had its signal aborted), so the sources can be closed after it.
   */
  close(): Promise<void>;
  /** Client connections open now (reads a closed one left under way may still be settling). */
  readonly connections: number;
}

/** The spec's size below which no read may be deemed a denial of service: every client can count on it. */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

const TRANSMISSION_FLAGS = P.TFLAG_HAS_FLAGS | P.TFLAG_READ_ONLY | P.TFLAG_CAN_MULTI_CONN;
const PREFERRED_BLOCK_SIZE = 4096;
/** Option data beyond this is refused: the largest legitimate option (INFO/GO) is a 4 KiB name and a few info types. */
const MAX_OPTION_BYTES = 64 * 1024;
/** Reads one connection may have under way, and the bytes they may hold, before it stops taking requests. */
const MAX_INFLIGHT_REQUESTS = 16;
const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;
/** Unparsed input held per connection before the socket is paused. */
const INPUT_HIGH_WATER = 1024 * 1024;
/** sun_path holds 108 bytes with the NUL; Node 20 truncates a longer path silently and binds elsewhere. */
const MAX_SOCKET_PATH_BYTES = 107;
/** Distinct read-failure messages remembered for once-only logging (a bound, so a source with varying messages cannot grow it forever). */
const MAX_REMEMBERED_FAILURES = 1000;

export async function serveNbd(opts: NbdServerOptions): Promise<NbdServer> {
  const maxRequestBytes = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < PREFERRED_BLOCK_SIZE || maxRequestBytes > 0xffffffff) {
    throw new RangeError(`maxRequestBytes must be an integer from ${PREFERRED_BLOCK_SIZE} to 2^32-1, got ${maxRequestBytes}`);
  }
  if (Buffer.byteLength(opts.socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new RangeError(`socket path ${opts.socketPath} has ${Buffer.byteLength(opts.socketPath)} bytes; a Unix socket path has at most ${MAX_SOCKET_PATH_BYTES}`);
  }
  const exportMap = opts.exports instanceof Map ? opts.exports : new Map([['', opts.exports]]);
  for (const [name, source] of exportMap) {
    if (!Number.isSafeInteger(source.size) || source.size < 0) throw new RangeError(`export "${name}": size must be a non-negative safe integer, got ${source.size}`);
    if (Buffer.byteLength(name) > P.MAX_STRING) throw new RangeError(`export name longer than ${P.MAX_STRING} bytes: ${name.slice(0, 40)}...`);
  }
  const log = opts.log;
  const loggedFailures = new Set<string>();
  const ctx: Context = {
    exports: exportMap,
    maxRequestBytes,
    log,
    readFailed(exportName, offset, length, err) {
      const message = err instanceof Error ? err.message : String(err);
      if (loggedFailures.has(message)) return;
      if (loggedFailures.size < MAX_REMEMBERED_FAILURES) loggedFailures.add(message);
      log?.error({ err, export: exportName, offset, length }, 'NBD read failed; the client gets EIO (later failures with this message are not logged)');
    },
  };

  await refuseLiveSocket(opts.socketPath);
  const sockets = new Set<Socket>();
  const tasks = new Set<Promise<void>>();
  // Half open: a client may shut its side right after NBD_CMD_DISC, and the replies owed before it must still go out.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const task = serveConnection(socket, ctx).finally(() => tasks.delete(task));
    tasks.add(task);
  });
  const identity = await listenPrivately(server, opts.socketPath);
  server.on('error', (err) => log?.error({ err }, 'NBD server socket error'));
  log?.debug({ socket: opts.socketPath, exports: [...exportMap.keys()] }, 'NBD server listening');

  let closed: Promise<void> | undefined;
  return {
    get connections() {
      return sockets.size;
    },
    close() {
      closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await stopped;
        await Promise.allSettled([...tasks]);
        // Only our own socket file: another server may have been started on the path since.
        const now = await stat(opts.socketPath).catch(() => undefined);
        if (now && now.ino === identity.ino && now.dev === identity.dev) await unlink(opts.socketPath).catch(() => undefined);
      })();
      return closed;
    },
  };
}

interface Context {
  exports: Map<string, BlockSource>;
  maxRequestBytes: number;
  log: Logger | undefined;
  readFailed(exportName: string, offset: number, length: number, err: unknown): void;
}

/** A stale socket file (a server that died) is replaced; a live one, or anything that is not a socket, is an error. */
async function refuseLiveSocket(path: string): Promise<void> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
  const live = await new Promise<boolean>((resolve, reject) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false);
      else reject(new Error(`${path}: cannot tell whether a server listens on it (${e.code ?? e.message})`));
    });
  });
  if (live) throw new Error(`${path}: another server is listening on this socket`);
}

/**
 * Binds inside a fresh 0700 directory, makes the socket 0600, then renames it onto the path: a socket bound
 * at the path itself would be open to others (by the umask) until the chmod, and a connection made in that
 * moment would outlive it. The rename also replaces a stale socket file in one step.
 */
async function listenPrivately(server: Server, path: string): Promise<{ ino: number; dev: number }> {
  const dir = await mkdtemp(join(dirname(path), '.nbd'));
  const bound = join(dir, 's');
  try {
    if (Buffer.byteLength(bound) > MAX_SOCKET_PATH_BYTES) {
      throw new RangeError(`socket path ${path}: the temporary name it is bound under (${bound}) is over ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter directory`);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(bound, 0o600);
    await rename(bound, path);
    const st = await stat(path);
    return { ino: st.ino, dev: st.dev };
  } catch (e) {
    server.close();
    throw e;
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

class ConnectionClosed extends Error {}
class ProtocolViolation extends Error {}

/** Resolves waiters whenever something they may be waiting for changed (drain, a read done, close). */
class Wakeup {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }
}

/** Exact-length reads from a socket, pausing it while too much unparsed input is held. */
class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private readonly changed = new Wakeup();

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered >= INPUT_HIGH_WATER) socket.pause();
      this.changed.notify();
    });
    const finish = () => {
      this.done = true;
      this.changed.notify();
    };
    socket.on('end', finish);
    socket.on('close', finish);
  }

  async read(n: number): Promise<Buffer> {
    while (this.buffered < n) {
      if (this.done) throw new ConnectionClosed('client closed the connection');
      await this.changed.wait();
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) at += this.take(n - at, out, at);
    return out;
  }

  /** Discards n bytes as they arrive (a write's payload), without holding them. */
  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      while (this.buffered === 0) {
        if (this.done) throw new ConnectionClosed('client closed the connection');
        await this.changed.wait();
      }
      left -= this.take(left);
    }
  }

  private take(max: number, into?: Buffer, at = 0): number {
    const head = this.chunks[0]!;
    const n = Math.min(max, head.length);
    if (into) head.copy(into, at, 0, n);
    if (n === head.length) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    if (this.buffered < INPUT_HIGH_WATER && this.socket.isPaused() && !this.done) this.socket.resume();
    return n;
  }
}

/** Writes one message as one unit: its parts go out back to back, so replies finishing at once never interleave. */
function send(socket: Socket, ...parts: Buffer[]): void {
  if (socket.destroyed || !socket.writable) return;
  socket.cork();
  for (const part of parts) socket.write(part);
  socket.uncork();
}

async function serveConnection(socket: Socket, ctx: Context): Promise<void> {
  const aborter = new AbortController();
  const wakeup = new Wakeup();
  const inflight = new Set<Promise<void>>();
  socket.on('close', () => {
    aborter.abort(new ConnectionClosed('client closed the connection'));
    wakeup.notify();
  });
  socket.on('drain', () => wakeup.notify());
  socket.on('error', (err) => ctx.log?.debug({ err }, 'NBD connection error'));
  const reader = new SocketReader(socket);
  try {
    const chosen = await negotiate(socket, reader, ctx);
    if (!chosen) {
      socket.end();
      return;
    }
    ctx.log?.debug({ export: chosen.name }, 'NBD client entered transmission');
    await transmit(socket, reader, chosen, ctx, { signal: aborter.signal, wakeup, inflight });
  } catch (e) {
    if (e instanceof ConnectionClosed) {
      // End of input without NBD_CMD_DISC is a hard disconnect (a Unix socket cannot tell a half close from a
      // full one until a write fails): reads under way are aborted and their replies dropped.
      ctx.log?.debug('NBD client disconnected');
      socket.destroy();
      return;
    }
    if (e instanceof ProtocolViolation) {
      ctx.log?.warn({ reason: e.message }, 'NBD client broke the protocol; connection dropped');
    } else {
      ctx.log?.error({ err: e }, 'NBD connection failed');
    }
    socket.destroy();
  } finally {
    await Promise.allSettled([...inflight]);
  }
}

interface Chosen {
  name: string;
  source: BlockSource;
}

/** Option haggling. Resolves to the export to serve, or undefined if the client aborted. */
async function negotiate(socket: Socket, reader: SocketReader, ctx: Context): Promise<Chosen | undefined> {
  send(socket, P.encodeGreeting(P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES));
  const clientFlags = (await reader.read(4)).readUInt32BE(0);
  if ((clientFlags & ~P.KNOWN_CLIENT_FLAGS) !== 0) throw new ProtocolViolation(`unknown client flags 0x${clientFlags.toString(16)}`);
  const noZeroes = (clientFlags & P.FLAG_C_NO_ZEROES) !== 0;

  for (;;) {
    const header = P.decodeOptionHeader(await reader.read(P.OPTION_HEADER_BYTES));
    if (header.magic !== P.IHAVEOPT) throw new ProtocolViolation(`bad option magic 0x${header.magic.toString(16)}`);
    const { option, length } = header;
    if (length > MAX_OPTION_BYTES) {
      // NBD_OPT_EXPORT_NAME cannot be answered with an error: the spec's only way to refuse it is to hang up.
      if (option === P.OPT_EXPORT_NAME) throw new ProtocolViolation(`export name of ${length} bytes`);
      await reader.skip(length);
      send(socket, P.encodeOptionError(option, P.REP_ERR_INVALID, `option data of ${length} bytes is too long`));
      continue;
    }
    const data = await reader.read(length);
    switch (option) {
      case P.OPT_EXPORT_NAME: {
        const name = data.toString('utf8');
        const source = ctx.exports.get(name);
        if (!source) throw new ProtocolViolation(`NBD_OPT_EXPORT_NAME for unknown export "${name}"`);
        send(socket, P.encodeExportNameReply(source.size, TRANSMISSION_FLAGS, noZeroes));
        return { name, source };
      }
      case P.OPT_ABORT:
        send(socket, P.encodeOptionReply(option, P.REP_ACK));
        return undefined;
      case P.OPT_LIST:
        if (length !== 0) {
          send(socket, P.encodeOptionError(option, P.REP_ERR_INVALID, 'NBD_OPT_LIST takes no data'));
          break;
        }
        for (const name of ctx.exports.keys()) send(socket, P.encodeServerReply(name));
        send(socket, P.encodeOptionReply(option, P.REP_ACK));
        break;
      case P.OPT_INFO:
      case P.OPT_GO: {
        const request = P.decodeInfoRequest(data);
        if (!request) {
          send(socket, P.encodeOptionError(option, P.REP_ERR_INVALID, 'malformed NBD_OPT_INFO/NBD_OPT_GO data'));
          break;
        }
        const source = ctx.exports.get(request.name);
        if (!source) {
          send(socket, P.encodeOptionError(option, P.REP_ERR_UNKNOWN, `no export named "${request.name}"`));
          break;
        }
        // Block sizes go out whether asked or not (the spec allows it): clients that read them split large reads to fit.
        send(
          socket,
          P.encodeInfoExport(option, source.size, TRANSMISSION_FLAGS),
          P.encodeInfoBlockSize(option, 1, PREFERRED_BLOCK_SIZE, ctx.maxRequestBytes),
          P.encodeOptionReply(option, P.REP_ACK),
        );
        if (option === P.OPT_GO) return { name: request.name, source };
        break;
      }
      default:
        // STARTTLS, STRUCTURED_REPLY, meta contexts and anything newer: simple replies only, no TLS on a private socket.
        send(socket, P.encodeOptionError(option, P.REP_ERR_UNSUP, `option ${option} is not supported by this server`));
    }
  }
}

interface Transmission {
  signal: AbortSignal;
  wakeup: Wakeup;
  inflight: Set<Promise<void>>;
}

async function transmit(socket: Socket, reader: SocketReader, chosen: Chosen, ctx: Context, t: Transmission): Promise<void> {
  const { source } = chosen;
  let inflightBytes = 0;
  for (;;) {
    // Backpressure: no new request while the socket's buffer is full or enough reads are under way.
    while (
      !socket.destroyed &&
      (socket.writableNeedDrain || t.inflight.size >= MAX_INFLIGHT_REQUESTS || (t.inflight.size > 0 && inflightBytes >= MAX_INFLIGHT_BYTES))
    ) {
      await t.wakeup.wait();
    }
    if (socket.destroyed) throw new ConnectionClosed('connection closed');

    const req = P.decodeRequest(await reader.read(P.REQUEST_HEADER_BYTES));
    if (req.magic !== P.REQUEST_MAGIC) throw new ProtocolViolation(`bad request magic 0x${req.magic.toString(16)}`);
    const reply = (error: number) => send(socket, P.encodeSimpleReply(req.handle, error));

    switch (req.type) {
      case P.CMD_READ: {
        // FUA is tolerated (clients are known to set it on reads); any other flag is one this server never offered.
        if ((req.flags & ~P.CMD_FLAG_FUA) !== 0) {
          reply(P.EINVAL);
          break;
        }
        // EINVAL rather than EOVERFLOW: the spec keeps EOVERFLOW for structured replies' don't-fragment reads.
        if (req.length > ctx.maxRequestBytes || req.offset + BigInt(req.length) > BigInt(source.size)) {
          reply(P.EINVAL);
          break;
        }
        const offset = Number(req.offset);
        const length = req.length;
        inflightBytes += length;
        const task = serveRead(socket, chosen, ctx, req.handle, offset, length, t.signal).finally(() => {
          inflightBytes -= length;
          t.inflight.delete(task);
          t.wakeup.notify();
        });
        t.inflight.add(task);
        break;
      }
      case P.CMD_WRITE:
        await reader.skip(req.length);
        reply(P.EPERM);
        break;
      case P.CMD_TRIM:
      case P.CMD_WRITE_ZEROES:
        reply(P.EPERM);
        break;
      case P.CMD_FLUSH:
        // Nothing is ever written, so there is nothing to flush.
        reply(0);
        break;
      case P.CMD_DISC:
        // The spec: handle all outstanding requests, then close.
        await Promise.allSettled([...t.inflight]);
        socket.end();
        return;
      default:
        reply(P.EINVAL);
    }
  }
}

async function serveRead(socket: Socket, chosen: Chosen, ctx: Context, handle: Buffer, offset: number, length: number, signal: AbortSignal): Promise<void> {
  let data: Buffer;
  try {
    data = length === 0 ? Buffer.alloc(0) : await chosen.source.readAt(offset, length, signal);
    // A short or long buffer would desynchronise the stream for every later reply: it is a failed read.
    if (!Buffer.isBuffer(data) || data.length !== length) {
      throw new Error(`readAt(${offset}, ${length}) returned ${Buffer.isBuffer(data) ? `${data.length} bytes` : typeof data}`);
    }
  } catch (err) {
    if (signal.aborted) return;
    ctx.readFailed(chosen.name, offset, length, err);
    send(socket, P.encodeSimpleReply(handle, P.EIO));
    return;
  }
  if (signal.aborted) return;
  send(socket, P.encodeSimpleReply(handle, 0), data);
}
