// npm run bench's flags and the placement facts of its report.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseBenchArgs } from '../../src/bench/args.js';
import { fileSystemOf, placementFacts } from '../../src/bench/report.js';

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
