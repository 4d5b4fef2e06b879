// The bin's first line: it runs as an executable (env -S passes node its flags), and the tests and the
// benchmarks start the CLI with the same flags.

import { execa } from 'execa';
import { expect, it } from 'vitest';
import { binCommand, binPath, shebangNodeFlags } from '../../tools/test-support/bin-command.js';

it('reads node flags from an env -S first line', () => {
  expect(shebangNodeFlags('#!/usr/bin/env -S node --max-semi-space-size=2')).toEqual(['--max-semi-space-size=2']);
  expect(shebangNodeFlags('#!/usr/bin/env -S node --a=1 --b')).toEqual(['--a=1', '--b']);
  expect(shebangNodeFlags('#!/usr/bin/env node')).toEqual([]);
});

it('names the file and the expected form when the first line is something else', () => {
  expect(() => shebangNodeFlags('#!/bin/sh', '/x/bin/vcbmounter.js')).toThrow(
    /\/x\/bin\/vcbmounter\.js: first line "#!\/bin\/sh" is not "#!\/usr\/bin\/env \[-S\] node \[--flag \.\.\.\]"/,
  );
  expect(() => shebangNodeFlags('#!/usr/bin/env -S node; rm -rf /')).toThrow(/is not/);
});

it('runs the bin as an executable, the way cron and shells start it', async () => {
  const r = await execa(binPath(), ['--version'], { reject: false });
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
});

it('starts the CLI with the running node and the flags of the bin line', async () => {
  const run = binCommand(['--version']);
  expect(run.command).toBe(process.execPath);
  expect(run.args).toContain('--max-semi-space-size=2');
  expect(run.args.at(-2)).toBe(binPath());
  const r = await execa(run.command, run.args, { reject: false });
  expect(r.exitCode).toBe(0);
});
