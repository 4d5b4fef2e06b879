// Password sources of the CLI (file, stdin, environment), wrong passwords, and the password never leaking anywhere.

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { smallInventory } from '../sim/integration/helpers.js';
import { privateFile, startBench, type Bench } from './cli-helpers.js';

const PASSWORD = `Pw-${randomBytes(9).toString('hex')}-secret`;
let bench: Bench;

beforeAll(async () => {
  bench = await startBench(smallInventory([{ name: 'vm1', vmid: 51, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } }]), {
    password: PASSWORD,
  });
});
afterAll(async () => bench?.stop());

/** A run that authenticates and then fails to find the VM exits 4; a failed login exits 3. */
const PROBE = ['-a', 'name:no-such-vm', '-r', '/nonexistent/never-created'];

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile());
}

test('--password-file readable by others is refused, naming the file and chmod 600', async () => {
  const file = privateFile(bench.work, 'pw-open', PASSWORD, 0o644);
  const r = await bench.cli(['--password-file', file, ...PROBE], { password: 'none' });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain(file);
  expect(r.stderr).toContain('chmod 600');
  expect(r.stderr).not.toContain(PASSWORD);
  expect(bench.sim.commandLog).toHaveLength(0);
});

test('--password-file readable by its group is refused too', async () => {
  const file = privateFile(bench.work, 'pw-group', PASSWORD, 0o640);
  const r = await bench.cli(['--password-file', file, ...PROBE], { password: 'none' });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toContain(`chmod 600 ${file}`);
});

test('the password can come from -p - on stdin or from VCBMOUNTER_PASSWORD', async () => {
  const stdin = await bench.cli(PROBE, { input: `${PASSWORD}\n` });
  expect(stdin.exitCode, stdin.stderr).toBe(4);
  const env = await bench.cli(PROBE, { password: 'none', env: { VCBMOUNTER_PASSWORD: PASSWORD } });
  expect(env.exitCode, env.stderr).toBe(4);
  const none = await bench.cli(PROBE, { password: 'none' });
  expect(none.exitCode).toBe(2);
  expect(none.stderr).toMatch(/no credentials/);
});

test('a wrong password exits 3', async () => {
  const r = await bench.cli(PROBE, { input: 'not-the-password\n' });
  expect(r.exitCode).toBe(3);
  expect(r.stderr).toMatch(/authentication|password/i);
});

test('with -L 6 the password appears in no log, output, journal, export file or host command', async () => {
  const file = privateFile(bench.work, 'pw-private', `${PASSWORD}\n`);
  const logFile = join(bench.work, 'trace.log');
  const out = join(bench.work, 'out');
  const r = await bench.cli(['--password-file', file, '-L', '6', '--log-file', logFile, '--json', '-a', 'name:vm1', '-r', out], { password: 'none' });
  expect(r.exitCode, r.stderr).toBe(0);

  const log = readFileSync(logFile, 'utf8');
  expect(log).toMatch(/snapshot\.create/);
  expect(log).not.toContain(PASSWORD);
  expect(r.stdout).not.toContain(PASSWORD);
  expect(r.stderr).not.toContain(PASSWORD);
  const journals = allFiles(bench.stateDir);
  expect(journals.length).toBeGreaterThan(0);
  const exported = allFiles(out);
  expect(exported.map((p) => p.slice(out.length + 1))).toContain('catalog');
  for (const p of [...journals, ...exported]) expect(readFileSync(p).includes(PASSWORD), p).toBe(false);
  const argv = bench.sim.commandLog.flatMap((c) => c.argv);
  expect(argv).toContain('vmsvc/snapshot.create');
  expect(argv.some((a) => a.includes(PASSWORD))).toBe(false);
});
