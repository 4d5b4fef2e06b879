// The product's SSH client against a host's sshd settings: logins by keyboard-interactive only (ESXi), the
// password sent once, a session limit lower than the product's channels, and a host closing unused connections.

import { afterEach, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { connectSsh, TransportError, type SshTransport } from '../../src/transport/index.js';
import { smallInventory } from '../sim/integration/helpers.js';

let sim: Simulator | undefined;
let transport: SshTransport | undefined;
afterEach(async () => {
  await transport?.close().catch(() => {});
  await sim?.stop();
  transport = undefined;
  sim = undefined;
});

async function hostWith(host: Record<string, unknown>): Promise<Simulator> {
  sim = await startSimulator({ inventory: smallInventory([], host) });
  return sim;
}

function login(s: Simulator, password: string, warnings: string[] = [], maxChannels?: number): Promise<SshTransport> {
  return connectSsh({
    host: s.host,
    port: s.port,
    username: 'root',
    password,
    hostKey: { kind: 'fingerprint', fingerprint: s.fingerprint },
    ...(maxChannels ? { maxChannels } : {}),
    logger: { debug: () => {}, warn: (_o, msg) => warnings.push(msg) },
  });
}

/** Attempts that carried the password: what a host's lockout counts. */
const secretAttempts = (s: Simulator) => s.authAttempts.filter((a) => a.method === 'password' || a.method === 'keyboard-interactive');

test('ESXi (password logins off): the password goes by keyboard-interactive, never by the password method', async () => {
  const s = await hostWith({ kind: 'esxi' });
  transport = await login(s, s.password);
  expect((await transport.exec(['echo', 'ok'])).stdout.toString()).toBe('ok\n');
  expect(secretAttempts(s)).toEqual([{ username: 'root', method: 'keyboard-interactive', accepted: true }]);
});

test('a wrong password is sent once: one refused attempt on ESXi and on ESX 3.x, the message says which method', async () => {
  for (const [kind, method] of [['esxi', 'keyboard-interactive'], ['esx3', 'password']] as const) {
    const s = await hostWith({ kind });
    const error = await login(s, 'wrong').catch((e: unknown) => e);
    expect(error, kind).toBeInstanceOf(TransportError);
    expect((error as TransportError).code).toBe('AUTH');
    expect((error as TransportError).message).toContain(`tried: ${method}`);
    expect(secretAttempts(s), kind).toEqual([{ username: 'root', method, accepted: false }]);
    await s.stop();
    sim = undefined;
  }
});

test('a host offering no method for a password says so, and nothing is sent', async () => {
  const s = await hostWith({ kind: 'esxi', ssh: { authMethods: ['publickey'] } });
  const error = (await login(s, s.password).catch((e: unknown) => e)) as TransportError;
  expect(error.code).toBe('AUTH');
  expect(error.message).toMatch(/offers no login method for a password/);
  expect(secretAttempts(s)).toEqual([]);
});

test('a host allowing 2 sessions per connection: 6 commands at once on 4 channels all finish, the limit drops to 2 with a warning', async () => {
  const s = await hostWith({ kind: 'esxi', ssh: { maxSessions: 2 } });
  const warnings: string[] = [];
  transport = await login(s, s.password, warnings, 4);
  const results = await Promise.all(Array.from({ length: 6 }, (_, i) => transport!.execLine(`sleep 0.3; echo ${i}`)));
  expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0, 0, 0, 0]);
  expect(results.map((r) => r.stdout.toString())).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n']);
  expect(warnings.some((w) => /MaxSessions/.test(w) && /at most 2/.test(w))).toBe(true);
});

test('a host that closes unused connections: the next command logs in again; a long command is not cut', async () => {
  const s = await hostWith({ kind: 'esxi', ssh: { unusedConnectionTimeout: 0.3 } });
  transport = await login(s, s.password);
  expect((await transport.exec(['sleep', '0.6'])).exitCode).toBe(0);
  expect(transport.isConnected()).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 900));
  expect(transport.isConnected(), 'the host closed the unused connection').toBe(false);
  expect((await transport.exec(['echo', 'again'])).stdout.toString()).toBe('again\n');
  expect(secretAttempts(s).filter((a) => a.accepted)).toHaveLength(2);
});
