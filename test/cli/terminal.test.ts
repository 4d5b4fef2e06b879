// What an admin sees at a terminal: the progress line and log lines never share a line; log files carry ISO times.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseInventory } from '../../src/sim/inventory.js';
import { BIN, startBench, type Bench } from './cli-helpers.js';

let bench: Bench;
beforeAll(async () => {
  bench = await startBench(
    parseInventory({
      datastores: [{ name: 'ds1', capacity: '256M' }],
      vms: [{ name: 'tty-vm', vmid: 7, disks: [{ size: '32M', fillBytes: '24M' }], guest: { writesPerSecond: 0 } }],
    }),
  );
  // Reads slow enough that the progress line is drawn several times before the snapshot is removed (a log line).
  bench.sim.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 12 * 1024 * 1024 });
});
afterAll(async () => bench?.stop());

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

test('a log line written while the progress line is shown starts on a cleared line', async () => {
  const out = join(bench.work, 'tty');
  const cmd = [BIN, '-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-a', 'name:tty-vm', '-r', out].map(quote).join(' ');
  const r = await execa('script', ['-qec', cmd, '/dev/null'], { reject: false, env: { VCBMOUNTER_PASSWORD: bench.sim.password }, extendEnv: true });
  expect(r.exitCode, r.stdout).toBe(0);
  expect(r.stdout).toMatch(/ETA \d+:\d\d/);
  expect(r.stdout).toContain('backup snapshot removed');
  // Between a drawn progress line and the next log line's time stamp, the terminal is sent back to column 1
  // (carriage return, cursor restore or CSI 1 G) and the line erased (CSI K / CSI 2 K), or a new line is begun.
  const gaps = [...r.stdout.matchAll(/ETA \d+:\d\d((?:(?!ETA )[\s\S])*?)\[\d\d:\d\d:\d\d\]/g)].map((m) => m[1]!);
  expect(gaps.length, 'a log line followed a progress line').toBeGreaterThan(0);
  for (const gap of gaps) expect(gap, JSON.stringify(gap)).toMatch(/\n|(\r|\x1b8|\x1b\[1G)\x1b\[[02]?K/);
});

test('--log-file writes ISO times a person can read, and no colour codes', async () => {
  const out = join(bench.work, 'logged');
  const logFile = join(bench.work, 'run.log');
  const r = await bench.cli(['-a', 'name:tty-vm', '-r', out, '--log-file', logFile]);
  expect(r.exitCode, r.stderr).toBe(0);
  const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time: unknown });
  expect(lines.length).toBeGreaterThan(3);
  for (const l of lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  expect(readFileSync(logFile, 'utf8')).not.toContain('\u001b[');
});
