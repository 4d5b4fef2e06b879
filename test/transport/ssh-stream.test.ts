// Streaming a command's stdout: large output arrives intact, a slow reader holds the sender back, an early close ends the command.

import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, type SshTransport } from '../../src/transport/ssh.js';
import { startSshFixture, type SshFixture } from './fixture/ssh-server.js';

const MIB = 1024 * 1024;
const PASSWORD = 'stream-test-pw';

describe('SshTransport stream', () => {
  let fixture: SshFixture;
  let transport: SshTransport;

  beforeAll(async () => {
    fixture = await startSshFixture({ password: PASSWORD });
    transport = await connectSsh({
      host: '127.0.0.1',
      port: fixture.port,
      username: 'root',
      password: PASSWORD,
      hostKey: { kind: 'accept-any' },
    });
  });
  afterAll(async () => {
    await transport?.close();
    await fixture?.close();
  });

  it('delivers 64 MiB intact to a slow reader while buffering only a few MiB', async () => {
    const { stdout, done } = transport.stream('big 64');
    const hash = createHash('sha256');
    let received = 0;
    let chunks = 0;
    let largestBuffered = 0;
    let largestLead = 0;
    const slowReader = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        received += chunk.length;
        largestBuffered = Math.max(largestBuffered, stdout.readableLength);
        largestLead = Math.max(largestLead, fixture.big.written - received);
        chunks++;
        if (chunks % 256 === 0) setTimeout(callback, 20);
        else callback();
      },
    });
    await pipeline(stdout, slowReader);
    expect(await done).toEqual({ exitCode: 0, stderr: '' });
    expect(received).toBe(64 * MIB);
    expect(hash.digest('hex')).toBe(fixture.big.sha256);
    expect(largestBuffered).toBeLessThanOrEqual(2 * MIB);
    expect(largestLead).toBeLessThanOrEqual(12 * MIB);
  });

  it('holds the sender back while nobody reads', async () => {
    const { stdout, done } = transport.stream('big 48');
    await expect.poll(() => fixture.big.written, { timeout: 10_000 }).toBeGreaterThan(0);
    await sleep(300);
    expect(fixture.big.written).toBeLessThanOrEqual(12 * MIB);
    expect(stdout.readableLength).toBeLessThanOrEqual(2 * MIB);
    let received = 0;
    for await (const chunk of stdout) received += (chunk as Buffer).length;
    expect(received).toBe(48 * MIB);
    expect((await done).exitCode).toBe(0);
  });

  it('closes the channel when the reader stops early, and done still settles', async () => {
    const { stdout, done } = transport.stream('big 256');
    for await (const chunk of stdout) {
      expect((chunk as Buffer).length).toBeGreaterThan(0);
      break;
    }
    const outcome = await done;
    expect(typeof outcome.exitCode).toBe('number');
    expect(fixture.big.sha256).toBeUndefined();
    await expect.poll(() => fixture.openChannels, { timeout: 10_000 }).toBe(0);
    expect((await transport.exec(['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('streams a real shell pipeline with stdin and reports its stderr', async () => {
    const { stdout, done } = transport.stream('tr a-z A-Z; echo warn >&2; exit 4', { stdin: 'quiet words\n' });
    const parts: Buffer[] = [];
    for await (const chunk of stdout) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).toString()).toBe('QUIET WORDS\n');
    expect(await done).toEqual({ exitCode: 4, stderr: 'warn\n' });
  });
});
