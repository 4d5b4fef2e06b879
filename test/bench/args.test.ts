// npm run bench's flags and the placement facts of its report.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { needsExportDisks, parseBenchArgs, runsGroup } from '../../tools/bench/args.js';
import { jobFleet, jobInventory, PARALLEL_SLOTS } from '../../tools/bench/jobs-cases.js';
import { REALISTIC_TIMING, resolveTiming } from '../../src/sim/esx/hostd-timing.js';
import { fileSystemOf, placementFacts, resultsMarkdown } from '../../tools/bench/report.js';
import { separateSanOutput } from '../../tools/bench/fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'vcb-bench-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('takes --out-dir as an existing directory and refuses anything else, naming the value', () => {
  expect(parseBenchArgs(['--out-dir', dir]).outDir).toBe(dir);
  expect(parseBenchArgs([]).outDir).toBeUndefined();
  expect(() => parseBenchArgs(['--out-dir', join(dir, 'missing')])).toThrow(`--out-dir ${join(dir, 'missing')}: expected an existing directory`);
  expect(() => parseBenchArgs(['--out-dir'])).toThrow(/--out-dir : expected an existing directory/);
});

it('says where the LUN image and the outputs are, and whether they share a file system', () => {
  const facts = placementFacts(dir, dir);
  expect(facts[0]).toBe(`simulated LUN image: ${dir} (${fileSystemOf(dir)})`);
  expect(facts[1]).toContain('the same file system as the LUN image');
  expect(fileSystemOf(dir)).not.toBe('unknown file system');
  expect(placementFacts(dir, '/proc')[1]).toBe('exports and baseline copies written to: /proc (proc, another file system than the LUN image)');
});

it('names the san export\'s own directory only when it differs from the outputs\'', () => {
  expect(placementFacts(dir, dir, dir)).toHaveLength(2);
  expect(placementFacts(dir, dir, '/proc')[2]).toBe('san export (row 2) written to: /proc (proc, another file system than the LUN image)');
});

it('puts the san export on another file system with room for it, or nowhere', () => {
  // The LUN's own file system never qualifies, nor a missing directory, nor one without room.
  expect(separateSanOutput(dir, 1024, [dir, join(dir, 'missing')])).toBeUndefined();
  expect(separateSanOutput(dir, Number.MAX_SAFE_INTEGER, ['/dev/shm'])).toBeUndefined();
  const shm = statSync('/dev/shm', { throwIfNoEntry: false });
  if (shm && shm.dev !== statSync(dir).dev) {
    const made = separateSanOutput(dir, 1024, [dir, '/dev/shm'])!;
    try {
      expect(made.startsWith('/dev/shm/vcbmounter-bench-san-')).toBe(true);
      expect(statSync(made).isDirectory()).toBe(true);
    } finally {
      rmSync(made, { recursive: true, force: true });
    }
  }
});

it('prints a speed-up with two decimals, so a near miss does not read as the target', () => {
  const md = resultsMarkdown('npm run bench', [
    {
      title: 'thin', kind: 'speedup', ratio: 4.98, target: 5, pass: false, notes: [],
      subject: { label: 'vcbmounter', seconds: 2.34 }, baseline: { label: 'cat', seconds: 11.66, bytes: 4 * 1024 ** 3 },
    },
  ], []);
  expect(md).toContain('| 4.98× | ≥ 5× faster | MISS |');
});

it('takes --only jobs for rows 11 and 12 alone, which need none of the other groups\' disks', () => {
  const jobs = parseBenchArgs(['--only', 'jobs', '--quick']);
  expect(jobs.only).toBe('jobs');
  expect(jobs.quick).toBe(true);
  expect(runsGroup(jobs, 'jobs')).toBe(true);
  expect((['export', 'file', 'stream'] as const).filter((g) => runsGroup(jobs, g))).toEqual([]);
  expect(needsExportDisks(jobs)).toBe(false);
  expect(runsGroup(parseBenchArgs([]), 'jobs')).toBe(true);
  expect(runsGroup(parseBenchArgs(['--only', 'export']), 'jobs')).toBe(false);
  expect(() => parseBenchArgs(['--only', 'job'])).toThrow(/^--only job: expected .* jobs \(rows 11 and 12\), verify \(rows 13 and 14\) or restore \(rows 15 and 16\)$/);
  expect(() => parseBenchArgs(['--only'])).toThrow(/^--only : expected /);
});

it('backs up 20 small VMs in a full run, and fewer, smaller ones with --quick, at the realistic hostd pace whatever the environment says', () => {
  const full = jobFleet(parseBenchArgs([]));
  const quick = jobFleet(parseBenchArgs(['--quick']));
  expect(full).toEqual({ count: 20, diskSize: 8 * 1024 * 1024, written: 4 * 1024 * 1024 });
  expect(quick.count).toBeLessThan(full.count);
  expect(quick.count % PARALLEL_SLOTS).toBe(0);
  expect(quick.diskSize).toBeLessThanOrEqual(full.diskSize);
  const inventory = jobInventory(full);
  expect(inventory.vms.map((v) => v.name)).toEqual(Array.from({ length: 20 }, (_, i) => `job-vm${String(i + 1).padStart(2, '0')}`));
  expect(inventory.vms.every((v) => v.power === 'on' && v.tools.running && v.disks.length === 1)).toBe(true);
  // The tests run with $VCBMOUNTER_SIM_TIMING=fast: the bench's host must not follow it.
  expect(process.env.VCBMOUNTER_SIM_TIMING).toBe('fast');
  expect(resolveTiming(inventory.host.timing)).toEqual(REALISTIC_TIMING);
});

it('takes --only restore for rows 15 and 16 alone, on the export cases\' disks (the restores\' sources)', () => {
  const restore = parseBenchArgs(['--only', 'restore', '--quick']);
  expect(restore.only).toBe('restore');
  expect(runsGroup(restore, 'restore')).toBe(true);
  expect((['export', 'file', 'stream', 'jobs'] as const).filter((g) => runsGroup(restore, g))).toEqual([]);
  expect(needsExportDisks(restore)).toBe(true);
  expect(runsGroup(parseBenchArgs([]), 'restore')).toBe(true);
  expect(runsGroup(parseBenchArgs(['--only', 'jobs']), 'restore')).toBe(false);
});
