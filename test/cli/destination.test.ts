// The export destination through the CLI: -r exists (refused or replaced), -U removes only what vcbmounter made.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(smallInventory([{ name: 'vm1', vmid: 71, disks: [{ size: '16M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } }]));
});
afterAll(async () => bench?.stop());

function programsRun(from: number): string[] {
  return bench.sim.commandLog.slice(from).map((c) => c.argv.slice(0, 2).join(' '));
}

test('an existing -r exits 7, leaves the directory as it was, and takes no snapshot', async () => {
  const out = join(bench.work, 'exists');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'mine');
  const from = bench.sim.commandLog.length;
  const r = await bench.cli(['-a', 'name:vm1', '-r', out]);
  expect(r.exitCode).toBe(7);
  // The CLI's own message (not the JSON log lines): advice that works for a directory vcbmounter did not make.
  const text = r.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n');
  expect(text).toContain(`destination ${out} already exists and was not made by vcbmounter`);
  expect(text).toContain('choose another -r');
  expect(text).not.toMatch(/-U |--preexisting-mountpoint delete/);
  expect(readdirSync(out)).toEqual(['keep.txt']);
  expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('mine');
  expect(programsRun(from)).not.toContain('vim-cmd vmsvc/snapshot.create');
  const listed = await bench.sim.exec('vim-cmd vmsvc/snapshot.get 71');
  expect(listed.exitCode).toBe(0);
  expect(listed.stdout.toString()).not.toContain(SNAPSHOT_NAME);
});

test('an earlier backup at -r exits 7 with advice that works: -U removes it, --preexisting-mountpoint delete replaces it', async () => {
  const out = join(bench.work, 'earlier');
  expect((await bench.cli(['-a', 'name:vm1', '-r', out])).exitCode).toBe(0);
  const r = await bench.cli(['-a', 'name:vm1', '-r', out]);
  expect(r.exitCode).toBe(7);
  const text = r.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n');
  expect(text).toContain(`destination ${out} already holds a backup`);
  expect(text).toContain(`vcbmounter -U ${out}`);
  expect(text).toContain('--preexisting-mountpoint delete');
  expect((await bench.cli(['-a', 'name:vm1', '-r', out, '--preexisting-mountpoint', 'delete'])).exitCode).toBe(0);
  const u = await bench.cli(['-U', out]);
  expect(u.exitCode, u.stderr).toBe(0);
  expect(existsSync(out)).toBe(false);
});

test('a -r that cannot be created (a file on its path) exits 7 before any snapshot is taken', async () => {
  const file = join(bench.work, 'a-file');
  writeFileSync(file, 'x');
  const from = bench.sim.commandLog.length;
  const r = await bench.cli(['-a', 'name:vm1', '-r', join(file, 'sub', 'out')]);
  expect(r.exitCode).toBe(7);
  expect(r.stderr).toContain(`${file} is not a directory`);
  expect(programsRun(from)).not.toContain('vim-cmd vmsvc/snapshot.create');
  expect(readFileSync(file, 'utf8')).toBe('x');
});

test('a malformed --host-key is a usage error naming the flag as typed', async () => {
  const r = await bench.cli(['-a', 'name:vm1', '-r', join(bench.work, 'hk'), '--host-key', 'SHA256:short'], { noHostKey: true });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/^vcbmounter: --host-key: a fingerprint like SHA256:/m);
});

test("an out-of-range --port is a usage error in zod's English words, not a bare 'Invalid input'", async () => {
  const r = await bench.cli(['-a', 'name:vm1', '-r', join(bench.work, 'port'), '--port', '70000']);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/^vcbmounter: --port: Too big: expected number to be <=65535$/m);
});

test('--preexisting-mountpoint delete replaces an earlier backup; -U removes it once, then has nothing to remove', async () => {
  const out = join(bench.work, 'backup');
  const first = await bench.cli(['-a', 'name:vm1', '-r', out]);
  expect(first.exitCode, first.stderr).toBe(0);
  const firstRun = readCatalog(out).runId;
  writeFileSync(join(out, 'stale-extra'), 'x');

  const second = await bench.cli(['-a', 'name:vm1', '-r', out, '--preexisting-mountpoint', 'delete']);
  expect(second.exitCode, second.stderr).toBe(0);
  const catalog = readCatalog(out);
  expect(catalog.runId).not.toBe(firstRun);
  expect(existsSync(join(out, 'stale-extra'))).toBe(false);
  expect(readFileSync(join(out, catalog.disks[0]!.extentFiles[0]!)).equals(bench.sim.esx.vm('vm1').readDisk(0))).toBe(true);

  const from = bench.sim.commandLog.length;
  const u1 = await bench.cli(['-U', out], { bare: true });
  expect(u1.exitCode, u1.stderr).toBe(0);
  expect(u1.stdout).toContain(`removed ${out}`);
  expect(existsSync(out)).toBe(false);
  const u2 = await bench.cli(['-U', out], { bare: true });
  expect(u2.exitCode, u2.stderr).toBe(0);
  expect(u2.stdout).toContain(`nothing to remove at ${out}`);
  expect(bench.sim.commandLog.length).toBe(from);
});

test('--preexisting-mountpoint delete refuses a directory vcbmounter did not make, before any snapshot', async () => {
  const foreign = join(bench.work, 'foreign-data');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'precious.txt'), 'keep me');
  const from = bench.sim.commandLog.length;
  const r = await bench.cli(['-a', 'name:vm1', '-r', foreign, '--preexisting-mountpoint', 'delete']);
  expect(r.exitCode).toBe(7);
  expect(r.stderr).toContain('was not made by vcbmounter');
  expect(readFileSync(join(foreign, 'precious.txt'), 'utf8')).toBe('keep me');
  expect(bench.sim.commandLog.slice(from).some((c) => c.argv.join(' ').includes('snapshot.create'))).toBe(false);
});

test('-U refuses a directory vcbmounter did not make and leaves it untouched', async () => {
  const foreign = join(bench.work, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'precious'), 'data');
  const r = await bench.cli(['-U', foreign], { bare: true });
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/not made by vcbmounter/);
  expect(readdirSync(foreign)).toEqual(['precious']);
  expect(readFileSync(join(foreign, 'precious'), 'utf8')).toBe('data');
});
