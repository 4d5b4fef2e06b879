// What a new user meets in the first hour: empty password sources, -h without a host, the --help text,
// and the message of a refused connection. Runs the built CLI as a process.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { freePort } from '../../tools/test-support/free-port.js';

/** Any well-formed fingerprint: these runs must stop before a host key is ever checked. */
const FP = `SHA256:${'A'.repeat(43)}`;

let work: string;
/** A TCP listener that counts connections and drops each at once: a run that reaches it would fail fast, not hang. */
let listener: Server;
let port = 0;
let accepted = 0;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'vcb-first-hour-'));
  listener = createServer((s: Socket) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => listener?.close(() => resolve()));
  if (work) rmSync(work, { recursive: true, force: true });
});

async function cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const run = binCommand(args);
  const r = await execa(run.command, run.args, {
    reject: false,
    input: opts.input ?? '',
    env: { VCBMOUNTER_PASSWORD: '', ...opts.env },
    extendEnv: true,
    timeout: 30_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A backup run against the counting listener, with the given password flags. */
function backupArgs(...password: string[]): string[] {
  return ['-h', '127.0.0.1', '--port', String(port), '-u', 'root', '--host-key', FP, '--state-dir', join(work, 'state'), ...password, '-a', 'name:vm1', '-r', join(work, 'never-created')];
}

test('-p - with empty stdin, or only a newline, is a usage error naming -p - before any connection', async () => {
  for (const input of ['', '\n', '\r\n']) {
    const before = accepted;
    const r = await cli(backupArgs('-p', '-'), { input });
    expect(r.exitCode, `${JSON.stringify(input)}: ${r.stderr}`).toBe(2);
    expect(r.stderr).toContain('-p -');
    expect(r.stderr).toMatch(/stdin was empty/);
    expect(accepted - before, 'connections made').toBe(0);
  }
});

test('an empty --password-file (or one holding only a newline) is a usage error naming the file, before any connection', async () => {
  for (const [name, text] of [['empty', ''], ['newline', '\n']] as const) {
    const file = join(work, `pw-${name}`);
    writeFileSync(file, text, { mode: 0o600 });
    const before = accepted;
    const r = await cli(backupArgs('--password-file', file));
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`--password-file ${file}`);
    expect(r.stderr).toMatch(/empty/);
    expect(accepted - before, 'connections made').toBe(0);
  }
});

test('an empty VCBMOUNTER_PASSWORD counts as unset: no credentials, exit 2, no connection', async () => {
  const before = accepted;
  const r = await cli(backupArgs(), { env: { VCBMOUNTER_PASSWORD: '' } });
  expect(r.exitCode, r.stderr).toBe(2);
  expect(r.stderr).toMatch(/no credentials/);
  expect(accepted - before, 'connections made').toBe(0);
});

test('-h alone (the reflex for help) is a short usage error pointing to --help, for the backup and for cleanup', async () => {
  for (const args of [['-h'], ['cleanup', '-h']]) {
    const r = await cli(args);
    expect(r.exitCode, args.join(' ')).toBe(2);
    expect(r.stderr).toContain('-h needs a HOST');
    expect(r.stderr).toContain('--help');
    expect(r.stderr).not.toContain('argument missing');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  }
});

/** The Options section of a --help text, one entry per flag with its wrapped lines joined: flags -> description. */
function helpEntries(help: string): Map<string, string> {
  const section = help.split('\nOptions:\n')[1]!.split('\n\n')[0]!;
  const entries = new Map<string, string>();
  let current = '';
  for (const line of section.split('\n')) {
    const start = /^ {2}(-\S.*?) {2,}(.*)$/.exec(line);
    if (start) {
      current = start[1]!.trim();
      entries.set(current, start[2]!.trim());
    } else if (current) {
      entries.set(current, `${entries.get(current)} ${line.trim()}`);
    }
  }
  return entries;
}

test('--help says what each -t does and which listed choices are refused, no flag shows two defaults or a false one, --state-dir names $XDG_STATE_HOME', async () => {
  const main = await cli(['--help']);
  expect(main.exitCode).toBe(0);
  const entries = helpEntries(main.stdout);
  expect(entries.get('-t, --type <type>')).toMatch(/fullvm: .*file: .*mounted read-only .*-U/);
  expect(entries.get('-m, --mode <mode>')).toContain('(hotadd: refused: this proxy reaches the host over SSH)');
  const cleanup = await cli(['cleanup', '--help']);
  expect(cleanup.exitCode).toBe(0);
  for (const [name, all] of [['vcbmounter', entries], ['cleanup', helpEntries(cleanup.stdout)]] as const) {
    expect(all.size, name).toBeGreaterThan(10);
    for (const [flags, text] of all) {
      expect(text.match(/default/gi)?.length ?? 0, `${name} ${flags}: ${text}`).toBeLessThanOrEqual(1);
      // A switch is off unless given; "(default: false)" says nothing an admin needs.
      expect(text, `${name} ${flags}`).not.toContain('default: false');
    }
  }
  expect(entries.get('--state-dir <dir>')).toContain('$XDG_STATE_HOME/vcbmounter');
});

test('a refused connection says the endpoint once and says connection refused', async () => {
  const closedPort = await freePort();
  const endpoint = `127.0.0.1:${closedPort}`;
  const args = ['-h', '127.0.0.1', '--port', String(closedPort), '-u', 'root', '--host-key', FP, '--state-dir', join(work, 'state'), '-p', '-', '-a', 'name:vm1', '-r', join(work, 'never-created'), '-L', '1'];
  const r = await cli(args, { input: 'some-password\n' });
  expect(r.exitCode, r.stderr).toBe(3);
  expect(r.stderr).toMatch(/connection refused/);
  expect(r.stderr.split(endpoint).length - 1, r.stderr).toBe(1);
  expect(r.stderr.match(/ECONNREFUSED/g)?.length ?? 0, r.stderr).toBeLessThanOrEqual(1);
});

/** Runs a backup on a pseudo-terminal (script(1)) with no password source, answering the prompt with `answer`. */
async function atPrompt(answer: string) {
  const run = binCommand(backupArgs());
  const cmd = [run.command, ...run.args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = execa('script', ['-qec', cmd, '/dev/null'], { reject: false, env: { VCBMOUNTER_PASSWORD: '' }, extendEnv: true, timeout: 30_000 });
  let seen = '';
  let prompted = false;
  child.stdout!.on('data', (c: Buffer) => {
    seen += c.toString('utf8');
    if (!prompted && seen.includes('Password for root@127.0.0.1')) {
      prompted = true;
      child.stdin!.write(answer);
    }
  });
  const r = await child;
  return { exitCode: r.exitCode ?? -1, seen, prompted };
}

test('an empty answer at the password prompt is a usage error, before any connection', async () => {
  const before = accepted;
  const r = await atPrompt('\r');
  expect(r.prompted).toBe(true);
  expect(r.exitCode, r.seen).toBe(2);
  expect(r.seen).toMatch(/password prompt: the password is empty; nothing was sent to the host/);
  expect(accepted - before, 'connections made').toBe(0);
});

test('Ctrl-C at the password prompt exits 130 without connecting', async () => {
  const before = accepted;
  const r = await atPrompt('secr\u0003');
  expect(r.prompted).toBe(true);
  expect(r.exitCode, r.seen).toBe(130);
  expect(r.seen).toMatch(/password prompt: canceled; nothing was sent to the host/);
  expect(r.seen).not.toContain('secr');
  expect(accepted - before, 'connections made').toBe(0);
});
