// Two backups of the same VM at once: the second is refused (exit 5, holder named) and touches nothing; later runs succeed.

import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { cli, message, outDir, SNAP, startBench, vmSpec, waitForExport, type Bench } from './helpers.js';

// Each test runs the CLI as a process several times on a machine shared with other test runs.
vi.setConfig({ testTimeout: 150_000 });

let bench: Bench | undefined;
afterEach(async () => {
  await bench?.stop();
  bench = undefined;
});

test('a second backup of a VM being backed up exits 5 naming the holder pid; after the first finishes a new run succeeds', async () => {
  bench = await startBench([vmSpec('vm1')]);
  bench.sim.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 2 * 1024 * 1024 });
  const first = cli([...bench.connect, '-a', 'name:vm1', '-r', outDir(bench, 'vm1')]);
  await waitForExport(bench.sim);
  const creates = () => bench!.sim.commandLog.filter((c) => c.argv[1] === 'vmsvc/snapshot.create').length;
  expect(creates()).toBe(1);

  const second = await cli([...bench.connect, '-a', 'name:vm1', '-r', join(bench.tmp, 'second')]);
  expect(second.exitCode).toBe(5);
  const msg = message(second.stderr);
  expect(msg).toContain(`pid ${first.pid}`);
  expect(msg).toContain('already being backed up');
  expect(msg).toContain('vm1');
  expect(creates()).toBe(1);
  expect(bench.sim.esx.vm('vm1').snapshots.filter((s) => s.name === SNAP)).toHaveLength(1);

  const done = await first;
  expect(done.exitCode).toBe(0);
  bench.sim.faults.clear();
  const third = await cli([...bench.connect, '-a', 'name:vm1', '-r', join(bench.tmp, 'third')]);
  expect(third.exitCode).toBe(0);
  expect(bench.sim.esx.vm('vm1').snapshots).toEqual([]);
});
