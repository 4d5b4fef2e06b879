// The product's Transport over SSH (ssh2): one connection, one channel per command, bounded channel count, reconnect.

import type { Client, ClientChannel } from 'ssh2';
import { shellJoin } from '../util/shell-quote.js';
import { TransportError, type ExecOptions, type ExecResult, type StreamHandle, type Transport } from './types.js';
import { ChannelSlots } from './channel-slots.js';
import { ChannelStdout } from './channel-stdout.js';
import { exitCodeOf } from './exit-status.js';
import { endpointOf, openConnection, type SshConnectOptions } from './ssh-connect.js';

export type { SshConnectOptions, TransportLogger } from './ssh-connect.js';
export type { HostKeyPolicy } from './host-key-policy.js';

const DEFAULT_MAX_CHANNELS = 4;
/** ssh2's error to a channel request still unanswered when the connection ended: the channel never opened. */
const CONNECTION_ENDED_BEFORE_CHANNEL_OPENED = 'No response from server';

interface CommandOutcome {
  exitCode: number;
  stderr: string;
}

interface InFlightCall {
  fail(error: TransportError): void;
  /** Set while the call waits for a new connection after its channel never opened: the old connection's end is not its failure. */
  movingToNewConnection?: boolean;
  /**
   * Set while its channel request is unanswered. ssh2 answers such a request itself when the connection ends (just
   * after the client's 'close'), saying whether the channel ever opened; that answer decides, not the 'close'.
   */
  opening?: boolean;
}

export class SshTransport implements Transport {
  private readonly slots: ChannelSlots;
  private readonly inFlight = new Set<InFlightCall>();
  private client: Client;
  private connected = true;
  private closing = false;
  private closedForGood = false;
  private hostFingerprint: string;
  private pendingReconnect: Promise<void> | undefined;
  private lastConnectionError: Error | undefined;
  /** The last connection ended with no channel of ours open (a host's idle limit): no command can have been cut. */
  private closedWhileIdle = false;

  constructor(
    private readonly opts: SshConnectOptions,
    client: Client,
    fingerprint: string,
  ) {
    this.slots = new ChannelSlots(opts.maxChannels ?? DEFAULT_MAX_CHANNELS);
    this.client = client;
    this.hostFingerprint = fingerprint;
    this.watch(client);
  }

  /** SHA256 fingerprint of the host key of the current connection. */
  get fingerprint(): string {
    return this.hostFingerprint;
  }

  get endpoint(): string {
    return endpointOf(this.opts);
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Channels open now and calls waiting for one. */
  channelUsage(): { active: number; queued: number } {
    return { active: this.slots.active, queued: this.slots.queued };
  }

  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return this.execLine(shellJoin(argv), opts);
  }

  async execLine(commandLine: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const stdoutChunks: Buffer[] = [];
    const outcome = await this.run(
      commandLine,
      opts,
      (channel) => channel.on('data', (chunk: Buffer) => stdoutChunks.push(chunk)),
      () => {},
    );
    return { stdout: Buffer.concat(stdoutChunks).toString('utf8'), ...outcome };
  }

  /**
   * done settles only after stdout has been read to its end (the channel closes after its data is
   * consumed), so read stdout before or while awaiting done. On failure stdout is destroyed with the
   * same TransportError that rejects done; done is pre-handled so an ignored rejection does not crash.
   */
  stream(commandLine: string, opts: ExecOptions = {}): StreamHandle {
    const stdout = new ChannelStdout();
    let openChannel: ClientChannel | undefined;
    const done = this.run(
      commandLine,
      opts,
      (channel) => {
        openChannel = channel;
        stdout.attach(channel, () => openChannel?.close());
      },
      (error) => stdout.destroy(error),
    );
    done.catch(() => {});
    return { stdout, done };
  }

  /** Opens a new connection with the same options; calls still in flight on the old one have already failed with SOCKET. */
  reconnect(): Promise<void> {
    this.pendingReconnect ??= this.replaceConnection().finally(() => {
      this.pendingReconnect = undefined;
    });
    return this.pendingReconnect;
  }

  /** Ends the connection for good: a reconnect after this (a release abandoned at the cleanup bound) is refused. */
  async close(): Promise<void> {
    this.closing = true;
    this.closedForGood = true;
    if (!this.connected) return;
    const client = this.client;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.end();
    const forced = setTimeout(() => client.destroy(), 2_000);
    await closed;
    clearTimeout(forced);
  }

  private async replaceConnection(): Promise<void> {
    if (this.closedForGood) throw new TransportError('SOCKET', `the transport to ${this.endpoint} was closed`);
    const old = this.client;
    if (this.connected) {
      this.connected = false;
      this.failAll(`the connection to ${this.endpoint} was replaced by a reconnect`);
      old.destroy();
    }
    const { client, fingerprint } = await openConnection(this.opts);
    if (this.closedForGood) {
      client.destroy();
      throw new TransportError('SOCKET', `the transport to ${this.endpoint} was closed`);
    }
    this.client = client;
    this.hostFingerprint = fingerprint;
    this.connected = true;
    this.closing = false;
    this.lastConnectionError = undefined;
    this.closedWhileIdle = false;
    this.watch(client);
    this.opts.logger?.debug({ endpoint: this.endpoint, fingerprint }, 'ssh reconnected');
  }

  private watch(client: Client): void {
    client.on('error', (error: Error) => {
      if (client !== this.client) return;
      this.lastConnectionError = error;
      this.opts.logger?.debug({ endpoint: this.endpoint, error: error.message }, 'ssh connection error');
    });
    client.once('close', () => {
      if (client !== this.client) return;
      this.connected = false;
      this.closedWhileIdle = !this.closing && this.slots.active === 0;
      const why = this.closing ? 'the transport was closed' : `the connection to ${this.endpoint} was lost`;
      if (!this.closing) this.opts.logger?.debug({ endpoint: this.endpoint }, 'ssh connection lost');
      this.failAll(why);
    });
  }

  private failAll(why: string): void {
    for (const call of [...this.inFlight]) {
      if (call.movingToNewConnection || call.opening) continue;
      call.fail(new TransportError('SOCKET', why, { cause: this.lastConnectionError }));
    }
  }

  /**
   * Runs one command on its own channel once a slot is free (timeoutMs counts from then; an abort
   * also cancels a queued call; a drop fails queued calls too). Settles exactly once: with the exit
   * status when the channel closes, or with TIMEOUT / ABORTED / SOCKET (the message names the command).
   */
  private run(
    commandLine: string,
    opts: ExecOptions,
    attachStdout: (channel: ClientChannel) => void,
    onFailure: (error: TransportError) => void,
  ): Promise<CommandOutcome> {
    const logger = this.opts.logger;
    return new Promise<CommandOutcome>((resolve, reject) => {
      let settled = false;
      let channel: ClientChannel | undefined;
      let timer: NodeJS.Timeout | undefined;
      let idleTimer: NodeJS.Timeout | undefined;
      let heardAt = Date.now();
      const idleMs = opts.timeoutMs === undefined ? this.opts.idleTimeoutMs : undefined;
      // Data only stamps the time (a stream delivers thousands of packets); the timer reads the stamp when it
      // fires. A paused channel is the reader's doing (a slow disk), not the host's silence: it counts as heard.
      const heard = () => {
        heardAt = Date.now();
      };
      const armIdle = (delay: number) => {
        if (idleMs === undefined || settled) return;
        idleTimer = setTimeout(() => {
          if (channel?.isPaused()) heard();
          const quietFor = Date.now() - heardAt;
          if (quietFor < idleMs) return armIdle(idleMs - quietFor);
          fail(new TransportError('TIMEOUT', `no answer from the host for ${idleMs / 1000} s (--command-timeout)`));
        }, delay);
      };
      let cancelSlot: () => void = () => {};
      let requeue: () => void = () => {};
      let movedOnce = false;
      const startedAt = Date.now();

      const finish = () => {
        settled = true;
        clearTimeout(timer);
        clearTimeout(idleTimer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.inFlight.delete(call);
        cancelSlot();
      };
      const fail = (error: TransportError) => {
        if (settled) return;
        const why = error.message;
        const named = new TransportError(error.code, `${why}; command: ${commandLine}`, { cause: error.cause });
        finish();
        closeQuietly(channel);
        logger?.debug({ cmd: commandLine, error: named.code, ms: Date.now() - startedAt }, 'ssh command failed');
        onFailure(named);
        reject(named);
      };
      const succeed = (outcome: CommandOutcome) => {
        if (settled) return;
        finish();
        logger?.debug({ cmd: commandLine, exitCode: outcome.exitCode, ms: Date.now() - startedAt }, 'ssh command finished');
        resolve(outcome);
      };
      const onAbort = () => fail(new TransportError('ABORTED', 'aborted'));
      const call: InFlightCall = { fail };

      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.inFlight.add(call);

      const start = (client: Client) => {
        logger?.debug({ cmd: commandLine }, 'ssh command');
        call.opening = true;
        client.exec(commandLine, (error, opened) => {
          call.opening = false;
          if (error) {
            if (!settled && this.fitChannelLimit(error)) return requeue();
            if (!settled && error.message === CONNECTION_ENDED_BEFORE_CHANNEL_OPENED && !movedOnce && !this.closedForGood) {
              // The connection ended before the host confirmed the channel (a host closing an unused connection just
              // as this command asked for one): the command never reached the host, so it goes on a new connection.
              movedOnce = true;
              call.movingToNewConnection = true;
              logger?.debug({ endpoint: this.endpoint, cmd: commandLine }, 'ssh connection ended before the channel opened; reconnecting');
              this.reconnect().then(
                () => {
                  call.movingToNewConnection = false;
                  startHere();
                },
                (reconnectError: unknown) => {
                  call.movingToNewConnection = false;
                  fail(new TransportError('SOCKET', `the connection ended before the command was sent and a new login failed: ${(reconnectError as Error).message}`, { cause: reconnectError }));
                },
              );
              return;
            }
            return fail(new TransportError('SOCKET', `cannot open an SSH channel on ${this.endpoint}: ${error.message}`, { cause: error }));
          }
          if (settled) return void opened.close();
          channel = opened;
          let code: number | null | undefined;
          let signalName: string | undefined;
          opened.on('exit', (exitCode: number | null, signal?: string) => {
            code = exitCode;
            signalName = signal;
          });
          holdWindowForStdout(opened);
          const stderrChunks: Buffer[] = [];
          opened.stderr.on('data', (chunk: Buffer) => {
            stderrChunks.push(chunk);
            heard();
          });
          opened.on('data', heard);
          let openStreams = 2;
          const onStreamClosed = () => {
            if (--openStreams > 0) return;
            succeed({ exitCode: exitCodeOf(code, signalName), stderr: Buffer.concat(stderrChunks).toString('utf8') });
          };
          opened.once('close', onStreamClosed);
          opened.stderr.once('close', onStreamClosed);
          opened.on('error', (channelError: Error) =>
            fail(new TransportError('SOCKET', `SSH channel error: ${channelError.message}`, { cause: channelError })),
          );
          attachStdout(opened);
          const input = opts.stdin;
          if (input === undefined) opened.end();
          else if (typeof input === 'string' || Buffer.isBuffer(input)) opened.end(input);
          else {
            input.pipe(opened);
            opened.once('close', () => input.unpipe(opened));
          }
        });
      };

      const startHere = () => {
        if (settled) return;
        try {
          start(this.client);
        } catch (error) {
          fail(new TransportError('SOCKET', `cannot run on ${this.endpoint}: ${(error as Error).message}`, { cause: error }));
        }
      };
      const granted = () => {
        if (settled) return;
        if (opts.timeoutMs !== undefined) {
          timer = setTimeout(() => fail(new TransportError('TIMEOUT', `timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
        }
        heard();
        if (idleMs !== undefined) armIdle(idleMs);
        if (this.connected) return startHere();
        if (this.closedWhileIdle && !this.closedForGood) {
          // The host closed a connection nothing was running on (sshd's idle limits, a firewall's): this command
          // was never sent, so logging in again and sending it is safe.
          logger?.debug({ endpoint: this.endpoint, cmd: commandLine }, 'ssh connection closed while unused; reconnecting');
          this.reconnect().then(startHere, (error: unknown) =>
            fail(new TransportError('SOCKET', `the host closed the unused connection and a new login failed: ${(error as Error).message}`, { cause: error })),
          );
          return;
        }
        return fail(new TransportError('SOCKET', `not connected to ${this.endpoint} (reconnect first)`, { cause: this.lastConnectionError }));
      };
      requeue = () => {
        clearTimeout(timer);
        clearTimeout(idleTimer);
        cancelSlot();
        cancelSlot = this.slots.request(granted);
      };
      cancelSlot = this.slots.request(granted);
    });
  }

  /**
   * A host that refuses a channel while others of ours are open allows fewer sessions per connection than we
   * use (sshd's MaxSessions): lower our limit to what it took, once, and say so. Returns false when no other
   * channel is open (then the refusal is a real failure).
   */
  private fitChannelLimit(error: Error): boolean {
    if (!error.message.startsWith('(SSH) Channel open failure') || this.slots.active <= 1) return false;
    const fits = this.slots.active - 1;
    this.slots.lowerTo(fits);
    const logger = this.opts.logger;
    (logger?.warn ?? logger?.debug)?.call(logger, { endpoint: this.endpoint, channels: fits }, `the host refused an SSH channel beyond ${fits} open at once (its sshd MaxSessions); using at most ${fits}`);
    return true;
  }
}

function closeQuietly(channel: ClientChannel | undefined): void {
  try {
    channel?.close();
  } catch {
    // the connection under it is already gone
  }
}

/** Connects, checks the host key per policy, authenticates. Rejects with TransportError CONNECT, HOST_KEY or AUTH. */
export async function connectSsh(opts: SshConnectOptions): Promise<SshTransport> {
  const { client, fingerprint } = await openConnection(opts);
  opts.logger?.debug({ endpoint: endpointOf(opts), username: opts.username, fingerprint }, 'ssh connected');
  return new SshTransport(opts, client, fingerprint);
}

/**
 * ssh2 gives the channel's window back when stderr data is taken or stderr asks for more, even while
 * stdout's buffer is full, and a batch of dd commands writes a line to stderr after each read: each line
 * then let in another window of stdout that nobody was reading, and a slow reader (the stream into an
 * agent) saw 130 MB pile up. While stdout is backed up, stderr refuses data and asks for none (ssh2 then
 * holds the window); stdout's next read gives the window back as usual.
 */
function holdWindowForStdout(channel: ClientChannel): void {
  const stderr = channel.stderr as ClientChannel['stderr'] & { _read(size: number): void };
  const backedUp = () => channel.readableLength >= channel.readableHighWaterMark;
  const push = stderr.push.bind(stderr);
  const read = stderr._read.bind(stderr);
  stderr.push = (chunk: unknown, encoding?: BufferEncoding) => push(chunk, encoding) && (chunk === null || !backedUp());
  stderr._read = (size: number) => {
    if (!backedUp()) read(size);
  };
}
