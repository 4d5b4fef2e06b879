// `vcbmounter sim` stopped by SIGINT/SIGTERM while it is still starting: it removes the temp state dir it
// created (never a --dir), and exits 130/143. If the start won the race, the normal stop must clean up too.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { binCommand } from '../../tools/test-support/bin-command.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freshDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

interface Outcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Whether the JSON line was out before the signal was sent. */
  startedFirst: boolean;
  stderr: string;
}

/**
 * Runs `vcbmounter sim` with TMPDIR=tmp and sends `signal` as soon as the start is under way: when
 * something appears in `watch` (the temp state dir in TMPDIR, or the --dir's contents), or when the
 * JSON line comes out if that happens first.
 */
function interruptStart(tmp: string, watch: string, signal: 'SIGINT' | 'SIGTERM', extra: string[] = []): Promise<Outcome> {
  const run = binCommand(['sim', '--inventory', 'demo', ...extra]);
  const child = spawn(run.command, run.args, { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let sent = false;
  let startedFirst = false;
  let stderr = '';
  const send = (): void => {
    if (sent) return;
    sent = true;
    clearInterval(poll);
    child.kill(signal);
  };
  const poll = setInterval(() => {
    if (existsSync(watch) && readdirSync(watch).length > 0) send();
  }, 2);
  child.stdout.on('data', () => {
    if (!sent) startedFirst = true;
    send();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, sig) => {
      clearInterval(poll);
      resolve({ exitCode, signal: sig, startedFirst, stderr });
    });
  });
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} while starting removes the temp state dir and exits ${code}`, async () => {
    const tmp = freshDir('vcb-sim-int-');
    const r = await interruptStart(tmp, tmp, signal);
    expect(r.signal, r.stderr).toBeNull();
    if (r.startedFirst) {
      expect(r.exitCode, r.stderr).toBe(0);
    } else {
      expect(r.exitCode, r.stderr).toBe(code);
      expect(r.stderr).toMatch(new RegExp(`interrupted by ${signal} while starting`));
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
}

test('SIGINT while starting keeps a --dir the user gave', async () => {
  const tmp = freshDir('vcb-sim-int-');
  const given = join(freshDir('vcb-sim-dir-'), 'state');
  const r = await interruptStart(tmp, given, 'SIGINT', ['--dir', given]);
  expect(r.signal, r.stderr).toBeNull();
  expect(r.exitCode, r.stderr).toBe(r.startedFirst ? 0 : 130);
  expect(existsSync(given)).toBe(true);
  expect(readdirSync(given).length).toBeGreaterThan(0);
  expect(readdirSync(tmp)).toEqual([]);
});
