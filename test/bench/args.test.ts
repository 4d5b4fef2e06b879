// npm run bench's flags and the placement facts of its report.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseBenchArgs } from '../../tools/bench/args.js';
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
