// A destination too small for the export: the free-space check fails before any disk is read, exit 7, snapshot removed.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { cli, expectNothingLeft, footprint, message, startBench, vmSpec, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
let mounted: string | undefined;
afterEach(async () => {
  if (mounted) execFileSync('umount', [mounted]);
  mounted = undefined;
  await bench?.stop();
  bench = undefined;
});

test('a 4 MiB destination for 16 MiB of data: exit 7 naming the space, no dd ran, nothing left (needs root for mount -t tmpfs)', async () => {
  bench = await startBench([vmSpec('vm1')]);
  const small = join(bench.tmp, 'small');
  mkdirSync(small);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
  mounted = small;
  const dest = join(small, 'out');
  const before = footprint(bench.sim, 'vm1');
  const r = await cli([...bench.connect, '-a', 'name:vm1', '-r', dest]);
  expect(r.exitCode).toBe(7);
  const msg = message(r.stderr);
  expect(msg).toContain('VM "vm1"');
  expect(msg).toContain('step export');
  expect(msg).toMatch(/not enough space in .*small/);
  expect(bench.sim.commandLog.some((c) => c.argv[0] === 'dd')).toBe(false);
  expect(bench.sim.commandLog.filter((c) => c.argv[1] === 'vmsvc/snapshot.remove').map((c) => c.exitCode)).toEqual([0]);
  expectNothingLeft(bench, 'vm1', before, { dir: dest });
});
