// Host key checks of the CLI: a pinned fingerprint, known_hosts with and without --accept-new-host-key, a changed key.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { smallInventory } from '../sim/integration/helpers.js';
import { startBench, type Bench } from './cli-helpers.js';

const INVENTORY = smallInventory([{ name: 'vm1', vmid: 61, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } }]);
let bench: Bench;
let other: Simulator | undefined;

beforeAll(async () => {
  bench = await startBench(INVENTORY);
});
afterAll(async () => {
  await other?.stop();
  await bench?.stop();
});

const PROBE = ['-a', 'name:no-such-vm', '-r', '/nonexistent/never-created'];

test('a --host-key that does not match exits 3 naming the host key', async () => {
  const wrong = `SHA256:${'A'.repeat(43)}`;
  const r = await bench.cli(['--host-key', wrong, ...PROBE], { noHostKey: true });
  expect(r.exitCode).toBe(3);
  expect(r.stderr).toMatch(/host key/i);
  expect(r.stderr).toContain(wrong);
});

test('known_hosts: an unknown host is refused with its fingerprint, accepted once with --accept-new-host-key, and a new key on that address is refused', async () => {
  const knownHosts = join(bench.work, 'known_hosts');
  writeFileSync(knownHosts, '');
  const unknown = await bench.cli(['--known-hosts', knownHosts, ...PROBE], { noHostKey: true });
  expect(unknown.exitCode).toBe(3);
  expect(unknown.stderr).toContain(bench.sim.fingerprint);
  expect(unknown.stderr).toContain('--accept-new-host-key');
  expect(readFileSync(knownHosts, 'utf8')).toBe('');

  const out = join(bench.work, 'out');
  const accepted = await bench.cli(['--known-hosts', knownHosts, '--accept-new-host-key', '-a', 'name:vm1', '-r', out], { noHostKey: true });
  expect(accepted.exitCode, accepted.stderr).toBe(0);
  const lines = readFileSync(knownHosts, 'utf8').split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${bench.sim.port} ssh-ed25519 `));

  const again = await bench.cli(['--known-hosts', knownHosts, ...PROBE], { noHostKey: true });
  expect(again.exitCode, again.stderr).toBe(4);

  const port = bench.sim.port;
  await bench.sim.stop();
  other = await startSimulator({ inventory: INVENTORY, port, password: bench.sim.password });
  expect(other.fingerprint).not.toBe(bench.sim.fingerprint);
  const changed = await bench.cli(['--known-hosts', knownHosts, '--accept-new-host-key', ...PROBE], { noHostKey: true });
  expect(changed.exitCode).toBe(3);
  expect(changed.stderr).toMatch(/host key/i);
  expect(changed.stderr).toContain(other.fingerprint);
  expect(other.commandLog).toHaveLength(0);
  expect(readFileSync(knownHosts, 'utf8').split('\n').filter(Boolean)).toEqual(lines);
});
