// Paths the CLI cannot use (--password-file, --state-dir) are usage errors naming the flag, the path and the cause, before any connection.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { binCommand } from '../../tools/test-support/bin-command.js';

/** Port 1 on loopback refuses at once: a run that got as far as connecting would exit 3, not 2. */
const NOWHERE = ['-h', '127.0.0.1', '--port', '1', '-u', 'root', '-a', 'name:vm1'];

let work: string;
let passwordFile: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vcb-usage-paths-'));
  passwordFile = join(work, 'password');
  writeFileSync(passwordFile, 'secret\n', { mode: 0o600 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function vcbmounter(args: string[], env: Record<string, string> = {}) {
  const run = binCommand(args);
  const r = await execa(run.command, run.args, { reject: false, stdin: 'ignore', timeout: 60_000, env: { ...env, VCBMOUNTER_PASSWORD: '' } });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A usage error (exit 2) that never reached the network, whose message holds every given piece. */
function expectUsage(r: { exitCode: number | undefined; stderr: string }, ...pieces: string[]): void {
  expect(r.exitCode, r.stderr).toBe(EXIT.USAGE);
  for (const piece of pieces) expect(r.stderr).toContain(piece);
  expect(r.stderr).not.toMatch(/ECONNREFUSED|connect/i);
}

describe('--password-file', () => {
  test('naming a directory', async () => {
    const dir = join(work, 'a-directory');
    mkdirSync(dir, { mode: 0o700 });
    const out = join(work, 'out-pwdir');
    const r = await vcbmounter([...NOWHERE, '-r', out, '--state-dir', join(work, 'state-pw'), '--password-file', dir]);
    expectUsage(r, `--password-file ${dir}`, 'is a directory');
    expect(r.stderr).not.toContain('EISDIR: illegal operation');
    expect(existsSync(out)).toBe(false);
  });

  test('naming a file that does not exist', async () => {
    const missing = join(work, 'no-such-password');
    const r = await vcbmounter([...NOWHERE, '-r', join(work, 'out-pwmissing'), '--password-file', missing]);
    expectUsage(r, `--password-file ${missing}`, 'does not exist');
  });
});

describe('--state-dir', () => {
  const backup = (stateDir: string) => vcbmounter([...NOWHERE, '-r', join(work, 'out-state'), '--password-file', passwordFile, '--state-dir', stateDir]);

  test('naming a regular file', async () => {
    const file = join(work, 'state-is-a-file');
    writeFileSync(file, 'not a directory\n');
    expectUsage(await backup(file), `--state-dir ${file}`, 'is a file, not a directory');
  });

  test('below a regular file', async () => {
    const file = join(work, 'plain-file');
    writeFileSync(file, 'x');
    expectUsage(await backup(join(file, 'state')), `--state-dir ${join(file, 'state')}`, `${file} is a file, not a directory`);
  });

  test('on a read-only file system (or, when not root, a directory without write permission)', async (ctx) => {
    const dir = join(work, 'readonly');
    mkdirSync(dir);
    const asRoot = process.getuid?.() === 0;
    if (!asRoot) {
      chmodSync(dir, 0o555);
      try {
        expectUsage(await backup(dir), `--state-dir ${dir}`, 'permission denied (EACCES)');
      } finally {
        chmodSync(dir, 0o755);
      }
      return;
    }
    const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'vcb-usage-ro', dir], { reject: false });
    if (mounted.exitCode !== 0) {
      ctx.skip(`cannot mount a read-only tmpfs here (${String(mounted.stderr).trim() || `exit ${mounted.exitCode}`}); root writes anywhere else`);
      return;
    }
    try {
      expectUsage(await backup(dir), `--state-dir ${dir}`, 'read-only file system (EROFS)');
      expectUsage(await backup(join(dir, 'sub')), `--state-dir ${join(dir, 'sub')}`, 'read-only file system (EROFS)');
    } finally {
      await execa('umount', [dir], { reject: false });
    }
  });

  test('the default from $XDG_STATE_HOME is named when the flag was not given', async () => {
    const file = join(work, 'xdg-is-a-file');
    writeFileSync(file, 'x');
    const r = await vcbmounter([...NOWHERE, '-r', join(work, 'out-xdg'), '--password-file', passwordFile], { XDG_STATE_HOME: file });
    expectUsage(r, `state directory ${join(file, 'vcbmounter')}`, '$XDG_STATE_HOME', '--state-dir', `${file} is a file, not a directory`);
  });

  test('cleanup refuses it the same way', async () => {
    const file = join(work, 'cleanup-state-file');
    writeFileSync(file, 'x');
    const r = await vcbmounter(['cleanup', '-h', '127.0.0.1', '--port', '1', '--password-file', passwordFile, '--state-dir', file]);
    expectUsage(r, `--state-dir ${file}`, 'is a file, not a directory');
  });

  test('--dry-run needs neither the state dir nor the host', async () => {
    const file = join(work, 'dry-state-file');
    writeFileSync(file, 'x');
    const fresh = join(work, 'dry-fresh', 'state');
    for (const stateDir of [file, fresh]) {
      const r = await vcbmounter([...NOWHERE, '-r', join(work, 'out-dry'), '--state-dir', stateDir, '--dry-run']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).not.toBe('');
    }
    expect(existsSync(join(work, 'dry-fresh'))).toBe(false);
    expect(existsSync(join(work, 'out-dry'))).toBe(false);
  });
});
