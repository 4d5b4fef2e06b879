// How SshTransport fails: bad password, refused connection, timeout, abort, a dropped connection, and coming back with reconnect.

import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, type SshTransport } from '../../src/transport/ssh.js';
import { withReconnect } from '../../src/transport/reconnect.js';
import { TransportError } from '../../src/transport/types.js';
import { startSshFixture, type SshFixture } from './fixture/ssh-server.js';
import { freePort } from '../../tools/test-support/free-port.js';

const PASSWORD = 'correct-horse-battery';
const WRONG_PASSWORD = 'Wr0ng-pa55word-value';

async function failureOf(promise: Promise<unknown>): Promise<TransportError> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(TransportError);
  return error as TransportError;
}

describe('SshTransport failures', () => {
  let fixture: SshFixture;
  let transport: SshTransport;

  beforeAll(async () => {
    fixture = await startSshFixture({ password: PASSWORD });
  });
  afterAll(async () => {
    await transport?.close();
    await fixture?.close();
  });

  const connect = (password = PASSWORD, logger?: { debug(obj: object, msg: string): void }) =>
    connectSsh({ host: '127.0.0.1', port: fixture.port, username: 'backup', password, hostKey: { kind: 'accept-any' }, logger });

  it('rejects a wrong password with AUTH naming user@host:port and never the password', async () => {
    const logged: string[] = [];
    const error = await failureOf(connect(WRONG_PASSWORD, { debug: (obj, msg) => logged.push(JSON.stringify(obj) + msg) }));
    expect(error.code).toBe('AUTH');
    expect(error.message).toContain(`backup@127.0.0.1:${fixture.port}`);
    const everything = [error.message, error.stack, JSON.stringify(error), String(error.cause), ...logged].join('\n');
    expect(everything).not.toContain(WRONG_PASSWORD);
  });

  it('rejects a refused connection with CONNECT', async () => {
    const closedPort = await freePort();
    const error = await failureOf(
      connectSsh({ host: '127.0.0.1', port: closedPort, username: 'u', password: 'p', hostKey: { kind: 'accept-any' } }),
    );
    expect(error.code).toBe('CONNECT');
    expect(error.message).toContain(`127.0.0.1:${closedPort}`);
  });

  it('rejects with CONNECT when the handshake never comes', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const error = await failureOf(
        connectSsh({ host: '127.0.0.1', port, username: 'u', password: 'p', hostKey: { kind: 'accept-any' }, connectTimeoutMs: 300 }),
      );
      expect(error.code).toBe('CONNECT');
      expect(error.message).toMatch(/timed out/);
    } finally {
      silent.close();
    }
  });

  it('times out a command, names it, and stays usable', async () => {
    transport = await connect();
    const error = await failureOf(transport.exec(['hang'], { timeoutMs: 200 }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('hang');
    await expect.poll(() => fixture.openChannels, { timeout: 10_000 }).toBe(0);
    expect((await transport.exec(['echo', 'after'])).stdout).toBe('after\n');
  });

  it('aborts a running command and refuses an already aborted signal', async () => {
    const controller = new AbortController();
    const running = transport.execLine('hang', { signal: controller.signal });
    await expect.poll(() => fixture.commands.filter((line) => line === 'hang').length, { timeout: 10_000 }).toBe(2);
    controller.abort();
    const error = await failureOf(running);
    expect(error.code).toBe('ABORTED');
    expect(error.message).toContain('hang');
    const before = fixture.commands.length;
    expect((await failureOf(transport.execLine('echo never', { signal: controller.signal }))).code).toBe('ABORTED');
    expect(fixture.commands.length).toBe(before);
  });

  it('rejects every in-flight call with SOCKET when the connection drops, then reconnects', async () => {
    const hanging = transport.execLine('hang');
    const streamed = transport.stream('big-then-drop 64 4');
    const received: Buffer[] = [];
    streamed.stdout.on('data', (chunk: Buffer) => received.push(chunk));
    const stdoutError = new Promise<unknown>((resolve) => streamed.stdout.on('error', resolve));

    const [hangError, streamError] = await Promise.all([failureOf(hanging), failureOf(streamed.done)]);
    expect(hangError.code).toBe('SOCKET');
    expect(hangError.message).toContain('hang');
    expect(streamError.code).toBe('SOCKET');
    expect(streamError.message).toContain('big-then-drop 64 4');
    expect(await stdoutError).toBe(streamError);
    expect(Buffer.concat(received).length).toBeLessThan(64 * 1024 * 1024);
    expect(transport.isConnected()).toBe(false);
    expect((await failureOf(transport.exec(['true']))).code).toBe('SOCKET');

    await transport.reconnect();
    expect(transport.isConnected()).toBe(true);
    expect((await transport.exec(['echo', 'back'])).stdout).toBe('back\n');
  });

  it('withReconnect retries an idempotent call once after a drop', async () => {
    let attempts = 0;
    const result = await withReconnect(transport, async (t) => {
      attempts++;
      if (attempts === 1) await t.execLine('drop');
      return t.exec(['echo', 'retried']);
    });
    expect(attempts).toBe(2);
    expect(result.stdout).toBe('retried\n');
  });

  it('withReconnect also retries when the lost connection is the cause of a wrapping error, and not for other failures', async () => {
    let attempts = 0;
    const result = await withReconnect(transport, async (t) => {
      attempts++;
      if (attempts === 1) {
        const dropped = await failureOf(t.execLine('drop'));
        throw new Error('host command failed', { cause: dropped });
      }
      return t.exec(['echo', 'again']);
    });
    expect(attempts).toBe(2);
    expect(result.stdout).toBe('again\n');
    let calls = 0;
    const other = withReconnect(transport, async () => {
      calls++;
      throw new Error('not a connection problem', { cause: new TransportError('TIMEOUT', 'timed out') });
    });
    await expect(other).rejects.toThrow('not a connection problem');
    expect(calls).toBe(1);
  });
});

describe('SshTransport idle bound (--command-timeout)', () => {
  let fixture: SshFixture;
  let transport: SshTransport;

  beforeAll(async () => {
    fixture = await startSshFixture({ password: PASSWORD });
    transport = await connectSsh({ host: '127.0.0.1', port: fixture.port, username: 'backup', password: PASSWORD, hostKey: { kind: 'accept-any' }, idleTimeoutMs: 300 });
  });
  afterAll(async () => {
    fixture.releaseHolds();
    await transport?.close();
    await fixture?.close();
  });

  it('fails a command the host stops answering with TIMEOUT naming the bound', async () => {
    const started = Date.now();
    const error = await failureOf(transport.exec(['hang']));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('no answer from the host for 0.3 s');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('leaves a command with a timeout of its own (a snapshot create) to that timeout', async () => {
    const started = Date.now();
    const error = await failureOf(transport.exec(['hang'], { timeoutMs: 900 }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toContain('timed out after 900 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(890);
  });

  it('does not count the time a slow reader holds a stream back', async () => {
    const { stdout, done } = transport.stream('big 32');
    let bytes = 0;
    for await (const chunk of stdout) {
      bytes += (chunk as Buffer).length;
      // Every 8 MiB, a reader that stalls for longer than the bound (a slow destination).
      if (bytes % (8 * 1024 * 1024) < (chunk as Buffer).length) await new Promise((resolve) => setTimeout(resolve, 700));
    }
    await done;
    expect(bytes).toBe(32 * 1024 * 1024);
    expect(fixture.big.sha256).toBeDefined();
  });
});
