// Connecting again after failures the network may clear (--connect-retries), and never after a refused login.
// The CLI runs as a process; a TCP relay in front of the simulated host opens late, or counts connections.

import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { smallInventory } from '../sim/integration/helpers.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { freePort } from '../../tools/test-support/free-port.js';
import { startBench, type Bench } from './cli-helpers.js';

let bench: Bench;
let relay: Server | undefined;
let relayed = 0;

beforeAll(async () => {
  bench = await startBench(smallInventory([{ name: 'vm1', vmid: 61, disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } }]));
});
afterEach(async () => {
  await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  relay = undefined;
});
afterAll(async () => bench?.stop());

/** Relays `port` to the simulated host's SSH port, counting connections. */
async function openRelay(port: number): Promise<void> {
  relay = createServer((client) => {
    relayed++;
    const upstream = connect(bench.sim.port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => relay!.listen(port, '127.0.0.1', resolve));
}

function runAgainst(port: number, args: string[], password = bench.sim.password) {
  const run = binCommand(['-h', '127.0.0.1', '--port', String(port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-', ...args]);
  return execa(run.command, run.args, { reject: false, input: `${password}\n`, env: { VCBMOUNTER_PASSWORD: '' }, extendEnv: true });
}

test('a host whose sshd comes up while the run waits is reached on a later try, with a warning per failed try', async () => {
  const port = await freePort();
  const out = join(bench.work, 'late-sshd');
  const child = runAgainst(port, ['--connect-retries', '3', '-a', 'name:vm1', '-r', out]);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    if (!relay && stderr.includes('trying again')) void openRelay(port);
  });
  const r = await child;
  expect(r.exitCode, stderr).toBe(0);
  expect(stderr).toMatch(/connection refused.*trying again \(--connect-retries 3\)/);
  expect(existsSync(join(out, 'catalog'))).toBe(true);
});

test('a refused login is not tried again: one connection, exit 3', async () => {
  const port = await freePort();
  await openRelay(port);
  const before = relayed;
  const r = await runAgainst(port, ['--connect-retries', '3', '-a', 'name:vm1', '-r', join(bench.work, 'never')], 'wrong-password');
  expect(r.exitCode, String(r.stderr)).toBe(3);
  expect(String(r.stderr)).toMatch(/authentication failed/);
  expect(String(r.stderr)).not.toMatch(/trying again/);
  expect(relayed - before, 'connections to the host').toBe(1);
});

test('--connect-retries 0 gives up after the first refused connection', async () => {
  const r = await runAgainst(await freePort(), ['--connect-retries', '0', '-a', 'name:vm1', '-r', join(bench.work, 'never')]);
  expect(r.exitCode, String(r.stderr)).toBe(3);
  expect(String(r.stderr)).toMatch(/connection refused/);
  expect(String(r.stderr)).not.toMatch(/trying again/);
});

test('a bad --connect-retries is a usage error naming the flag', async () => {
  for (const value of ['-1', 'two', '1.5', '99']) {
    const r = await runAgainst(await freePort(), ['--connect-retries', value, '-a', 'name:vm1', '-r', join(bench.work, 'never')]);
    expect(r.exitCode, `${value}: ${String(r.stderr)}`).toBe(2);
    expect(String(r.stderr)).toContain(`--connect-retries ${value}: expected a whole number from 0 to 20`);
  }
});

test('Ctrl-C while waiting to connect again stops at once with 130, trying no more', async () => {
  const child = runAgainst(await freePort(), ['--connect-retries', '5', '-a', 'name:vm1', '-r', join(bench.work, 'never')]);
  let stderr = '';
  let sent = false;
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    if (!sent && stderr.includes('trying again')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const r = await child;
  expect(sent).toBe(true);
  expect(r.exitCode, stderr).toBe(130);
  expect(stderr.match(/trying again/g)).toHaveLength(1);
});
