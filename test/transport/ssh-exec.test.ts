// Running commands through SshTransport against an in-process SSH server whose exec lines go to a real /bin/sh.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEd25519KeyPair } from '../../src/sim/ssh-server.js';
import { connectSsh, type SshTransport } from '../../src/transport/ssh.js';
import { startSshFixture, type SshFixture } from './fixture/ssh-server.js';

const PASSWORD = 'pw-for-exec-tests';

describe('SshTransport exec', () => {
  let fixture: SshFixture;
  let transport: SshTransport;
  const logged: Array<{ obj: object; msg: string }> = [];

  beforeAll(async () => {
    fixture = await startSshFixture({ password: PASSWORD });
    transport = await connectSsh({
      host: '127.0.0.1',
      port: fixture.port,
      username: 'root',
      password: PASSWORD,
      hostKey: { kind: 'accept-any' },
      logger: { debug: (obj, msg) => logged.push({ obj, msg }) },
    });
  });
  afterAll(async () => {
    await transport?.close();
    await fixture?.close();
  });

  it('delivers hostile argv elements to a real shell intact', async () => {
    const hostile = ['x; touch /tmp/p', "'", '"', '$(id)', '`id`', 'a\nb', '  spaced  out ', 'vm-é-名前', '', '*', '-n', '\\', '$HOME'];
    const result = await transport.exec(['printf', '%s\\0', ...hostile]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\0').slice(0, -1)).toEqual(hostile);
  });

  it('returns stderr and a non-zero exit code as a result', async () => {
    const result = await transport.exec(['sh', '-c', 'echo out; echo oops >&2; exit 3']);
    expect(result).toEqual({ stdout: 'out\n', stderr: 'oops\n', exitCode: 3 });
  });

  it('writes stdin and then EOF', async () => {
    const input = Buffer.alloc(3 * 1024 * 1024, 'ab');
    const result = await transport.execLine('wc -c', { stdin: input });
    expect(result.stdout.trim()).toBe(String(input.length));
    const text = await transport.execLine('cat', { stdin: 'hello\nthere' });
    expect(text.stdout).toBe('hello\nthere');
  });

  it('reports a command killed by a signal as 128 + the signal number', async () => {
    expect((await transport.execLine('kill -TERM $$')).exitCode).toBe(143);
    expect((await transport.execLine('killed-by KILL')).exitCode).toBe(137);
  });

  it('logs each command line and its exit status', async () => {
    await transport.exec(['sh', '-c', 'exit 7', 'marker-arg']);
    const finished = logged.find(
      (entry) => (entry.obj as { cmd?: string }).cmd === "sh -c 'exit 7' marker-arg" && 'exitCode' in entry.obj,
    );
    expect(finished?.obj).toMatchObject({ exitCode: 7 });
    expect(JSON.stringify(logged)).not.toContain(PASSWORD);
  });

  it('queues calls above the channel limit and never opens more', async () => {
    const limited = await connectSsh({
      host: '127.0.0.1',
      port: fixture.port,
      username: 'root',
      password: PASSWORD,
      hostKey: { kind: 'accept-any' },
      maxChannels: 3,
    });
    try {
      fixture.maxOpenChannels = fixture.openChannels;
      const calls = Array.from({ length: 7 }, () => limited.execLine('hold'));
      await expect.poll(() => fixture.openChannels, { timeout: 10_000 }).toBe(3);
      expect(limited.channelUsage()).toEqual({ active: 3, queued: 4 });
      const controller = new AbortController();
      const queuedThenAborted = limited.execLine('echo never-ran', { signal: controller.signal });
      expect(limited.channelUsage().queued).toBe(5);
      controller.abort();
      await expect(queuedThenAborted).rejects.toMatchObject({ code: 'ABORTED' });
      expect(limited.channelUsage()).toEqual({ active: 3, queued: 4 });
      fixture.releaseHolds();
      const results = await Promise.all(calls);
      expect(results.map((result) => result.exitCode)).toEqual([0, 0, 0, 0, 0, 0, 0]);
      expect(fixture.maxOpenChannels).toBe(3);
      expect(limited.channelUsage()).toEqual({ active: 0, queued: 0 });
      expect(fixture.commands).not.toContain('echo never-ran');
    } finally {
      await limited.close();
    }
  });
});

describe('SshTransport authentication methods', () => {
  it('logs in with keyboard-interactive (as ESXi offers) using the password', async () => {
    const fixture = await startSshFixture({ password: PASSWORD, keyboardInteractiveOnly: true });
    try {
      const transport = await connectSsh({
        host: '127.0.0.1',
        port: fixture.port,
        username: 'root',
        password: PASSWORD,
        hostKey: { kind: 'accept-any' },
      });
      expect((await transport.exec(['echo', 'ki'])).stdout).toBe('ki\n');
      await transport.close();
      expect(transport.isConnected()).toBe(false);
    } finally {
      await fixture.close();
    }
  });

  it('logs in with a private key (with passphrase)', async () => {
    const clientKey = generateEd25519KeyPair({ passphrase: 'key-pass', cipher: 'aes256-ctr', rounds: 16 });
    const fixture = await startSshFixture({ password: 'unused-password', authorizedKey: clientKey.public });
    try {
      const transport = await connectSsh({
        host: '127.0.0.1',
        port: fixture.port,
        username: 'root',
        privateKey: clientKey.private,
        passphrase: 'key-pass',
        hostKey: { kind: 'accept-any' },
      });
      expect((await transport.exec(['echo', 'pk'])).stdout).toBe('pk\n');
      await transport.close();
    } finally {
      await fixture.close();
    }
  });
});
