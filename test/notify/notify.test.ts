// Notifications of a job file run against real local receivers: an HTTP server, an aiosmtpd SMTP server, /bin/sh scripts.

import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { RunSummary } from '../../src/jobfile/summary-types.js';
import { createLogger } from '../../src/log.js';
import { checkNotifyTargets, notifyTargetSchema, renderSummaryText, sendNotifications, type NotifyTarget } from '../../src/notify/index.js';
import { TOOL_VERSION } from '../../src/version.js';
import { startSmtpSink, type SmtpSink } from '../../tools/test-support/smtp-sink.js';

const work = mkdtempSync(join(tmpdir(), 'vcb-notify-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const partial: RunSummary = {
  job: '/etc/vcbmounter/nightly.yaml',
  status: 'partial',
  startedAt: '2025-01-02T01:00:00.000Z',
  endedAt: '2025-01-02T01:04:10.000Z',
  durationMs: 250_000,
  vms: [
    { host: 'esx01', vm: 'web01', result: 'ok', dir: '/backup/esx01/web01/20250102T0100', exitCode: 0, bytes: 3 * 1024 ** 3, durationMs: 200_000, rate: (3 * 1024 ** 3) / 200, verified: true, pruned: ['/backup/esx01/web01/20241201T0100'], kept: [], warnings: [] },
    { host: 'esx02', vm: 'db 01', result: 'failed', failedStep: 'snapshot', error: 'the snapshot could not be created: quiescing failed\nthe guest said: VSS writer timed out', exitCode: 5, bytes: 0, durationMs: 12_500, rate: 0, warnings: ['VMware Tools are old'] },
  ],
  counts: { ok: 1, failed: 1, skipped: 0 },
  bytes: 3 * 1024 ** 3,
  errors: ['host esx03 could not be listed: connection refused'],
};
const allOk: RunSummary = { ...partial, status: 'ok', vms: [partial.vms[0]!], counts: { ok: 1, failed: 0, skipped: 0 }, errors: [] };

let logCount = 0;
/** The project's real logger at trace level, into a file the test reads back. */
function fileLogger() {
  const file = join(work, `log-${++logCount}.jsonl`);
  return { log: createLogger({ level: 6, file }), text: () => (existsSync(file) ? readFileSync(file, 'utf8') : '') };
}

// --- an HTTP receiver -------------------------------------------------------------------------------------------

interface Received {
  method: string;
  headers: IncomingMessage['headers'];
  body: string;
}

async function httpReceiver(answer: (n: number, res: import('node:http').ServerResponse) => void): Promise<{ url: string; requests: Received[]; close: () => Promise<void> }> {
  const requests: Received[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      answer(requests.length, res);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks/backup-abc123`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('webhook', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (closers.length) await closers.pop()!();
  });

  it('POSTs the summary as JSON with the User-Agent and an env: header whose value never reaches the log', async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(204).end());
    closers.push(hook.close);
    process.env.VCB_TEST_HOOK_TOKEN = 'Bearer s3cr3t-hook-token';
    const { log, text } = fileLogger();
    const results = await sendNotifications([{ webhook: hook.url, headers: { Authorization: 'env:VCB_TEST_HOOK_TOKEN', 'X-Source': 'cron' } }], partial, { log });
    expect(results).toEqual([{ target: `notify[0] webhook ${new URL(hook.url).origin}/…`, ok: true }]);
    expect(hook.requests).toHaveLength(1);
    const [req] = hook.requests;
    expect(req!.method).toBe('POST');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['user-agent']).toBe(`vcbmounter/${TOOL_VERSION}`);
    expect(req!.headers.authorization).toBe('Bearer s3cr3t-hook-token');
    expect(req!.headers['x-source']).toBe('cron');
    expect(JSON.parse(req!.body)).toEqual(partial);
    expect(text()).toContain('notification sent');
    expect(text()).not.toContain('s3cr3t-hook-token');
    // The path (a Slack-style token) is not in the log either.
    expect(text()).not.toContain('backup-abc123');
  });

  it('tries again after a 503 and succeeds on the second try', async () => {
    const hook = await httpReceiver((n, res) => (n === 1 ? res.writeHead(503, { 'retry-after': '1' }).end('busy') : res.writeHead(200).end('ok')));
    closers.push(hook.close);
    const { log, text } = fileLogger();
    const results = await sendNotifications([{ webhook: hook.url }], partial, { log, timeoutMs: 15_000 });
    expect(results[0]).toMatchObject({ ok: true });
    expect(hook.requests).toHaveLength(2);
    expect(JSON.parse(hook.requests[1]!.body)).toEqual(partial);
    expect(text()).toContain('HTTP 503');
  });

  it('gives up after three tries of a receiver that keeps answering 500', async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(500).end('database down'));
    closers.push(hook.close);
    const results = await sendNotifications([{ webhook: hook.url }], partial, { log: fileLogger().log, timeoutMs: 20_000 });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('HTTP 500');
    expect(results[0]!.error).toContain('database down');
    expect(hook.requests).toHaveLength(3);
  });

  it('reports a 404 as a failure naming it, without trying again', async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(404).end('no such hook'));
    closers.push(hook.close);
    const results = await sendNotifications([{ webhook: hook.url }], partial, { log: fileLogger().log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toMatch(/HTTP 404.*no such hook/);
    expect(hook.requests).toHaveLength(1);
  });

  it('does not follow a redirect (a POST would become a GET, the headers could go elsewhere)', async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(301, { location: 'http://elsewhere.example/' }).end());
    closers.push(hook.close);
    const results = await sendNotifications([{ webhook: hook.url }], partial, { log: fileLogger().log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('redirected to http://elsewhere.example/');
  });

  it('bounds a receiver that never answers by the timeout', async () => {
    const hook = await httpReceiver(() => {});
    closers.push(hook.close);
    const started = Date.now();
    const results = await sendNotifications([{ webhook: hook.url }], partial, { log: fileLogger().log, timeoutMs: 1500 });
    const took = Date.now() - started;
    expect(results[0]).toMatchObject({ ok: false, error: 'did not finish within 1.5 s' });
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(5000);
  });

  it('reports a receiver that is not there (connection refused) after its tries, within the timeout', async () => {
    const hook = await httpReceiver(() => {});
    await hook.close();
    const results = await sendNotifications([{ webhook: hook.url }], partial, { log: fileLogger().log, timeoutMs: 10_000 });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('ECONNREFUSED');
  });

  it('reports an unset env: header variable by name, sending nothing', async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(200).end());
    closers.push(hook.close);
    delete process.env.VCB_TEST_UNSET_TOKEN;
    const results = await sendNotifications([{ webhook: hook.url, headers: { Authorization: 'env:VCB_TEST_UNSET_TOKEN' } }], partial, { log: fileLogger().log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('env:VCB_TEST_UNSET_TOKEN is not set');
    expect(hook.requests).toHaveLength(0);
  });
});

// --- SMTP ---------------------------------------------------------------------------------------------------

describe('email', () => {
  let starttls: SmtpSink;
  let withAuth: SmtpSink;
  const AUTH_PASSWORD = 'smtp-pa55word-never-logged';
  beforeAll(async () => {
    [starttls, withAuth] = await Promise.all([
      startSmtpSink({ mode: 'starttls', requireStarttls: true }),
      startSmtpSink({ mode: 'starttls', requireStarttls: true, auth: { user: 'backup', password: AUTH_PASSWORD, required: true } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([starttls?.stop(), withAuth?.stop()]);
  });

  it('sends over STARTTLS (the server checked with ca:) with the subject, the text and summary.json attached', async () => {
    const before = starttls.received().length;
    const target: NotifyTarget = { email: { to: ['admin@example.com', 'oncall@example.com'], from: 'backup@example.com', smtp: starttls.url, starttls: true, ca: starttls.caFile } };
    const results = await sendNotifications([target], partial, { log: fileLogger().log });
    expect(results).toEqual([{ target: `notify[0] email to admin@example.com, oncall@example.com via ${starttls.url}`, ok: true }]);
    const mails = starttls.received().slice(before);
    expect(mails).toHaveLength(1);
    const mail = mails[0]!;
    expect(mail.tls).toBe(true);
    expect(mail.mailFrom).toBe('backup@example.com');
    expect(mail.rcptTos).toEqual(['admin@example.com', 'oncall@example.com']);
    expect(mail.message.subject).toBe('[vcbmounter] nightly: partial (1 ok, 1 failed)');
    expect(mail.message.text!.replace(/\r\n/g, '\n')).toBe(renderSummaryText(partial));
    expect(mail.message.attachments).toHaveLength(1);
    expect(mail.message.attachments[0]).toMatchObject({ filename: 'summary.json', contentType: 'application/json' });
    expect(JSON.parse(mail.message.attachments[0]!.content)).toEqual(partial);
  });

  it('fails (reported, not thrown) when the server certificate is not trusted', async () => {
    const results = await sendNotifications([{ email: { to: 'admin@example.com', from: 'backup@example.com', smtp: starttls.url, starttls: true } }], partial, { log: fileLogger().log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toMatch(/self-signed certificate.*give the CA that signed it .* as ca: FILE/);
  });

  it('a server that requires STARTTLS refuses a plain send (starttls: false); the failure is reported, not thrown', async () => {
    const before = starttls.received().length;
    const results = await sendNotifications([{ email: { to: 'admin@example.com', from: 'backup@example.com', smtp: starttls.url, starttls: false } }], partial, { log: fileLogger().log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('530');
    expect(results[0]!.error).toMatch(/STARTTLS/);
    expect(starttls.received().length).toBe(before);
  });

  it('starttls: true refuses to send in clear to a server that does not offer STARTTLS', async () => {
    const plain = await startSmtpSink({ mode: 'plain' });
    try {
      const results = await sendNotifications([{ email: { to: 'admin@example.com', from: 'backup@example.com', smtp: plain.url, starttls: true } }], partial, { log: fileLogger().log });
      expect(results[0]!.ok).toBe(false);
      expect(results[0]!.error).toMatch(/STARTTLS/i);
      expect(plain.received()).toHaveLength(0);
    } finally {
      await plain.stop();
    }
  });

  it('logs in with the password from a 0600 passwordFile, and the password is nowhere in the log', async () => {
    const passwordFile = join(work, 'smtp.pass');
    writeFileSync(passwordFile, `${AUTH_PASSWORD}\n`, { mode: 0o600 });
    const { log, text } = fileLogger();
    const target: NotifyTarget = { email: { to: 'admin@example.com', from: 'backup@example.com', smtp: withAuth.url, starttls: true, ca: withAuth.caFile, user: 'backup', passwordFile } };
    const results = await sendNotifications([target], partial, { log });
    expect(results[0]).toMatchObject({ ok: true });
    const mails = withAuth.received();
    expect(mails.at(-1)!.login).toBe('backup');
    expect(mails.at(-1)!.tls).toBe(true);
    expect(text()).toContain('notification sent');
    expect(text()).not.toContain(AUTH_PASSWORD);
  });

  it('reports a wrong password and a too-open passwordFile, neither password logged', async () => {
    const wrong = join(work, 'wrong.pass');
    writeFileSync(wrong, 'not-the-password-xyz', { mode: 0o600 });
    const open = join(work, 'open.pass');
    writeFileSync(open, AUTH_PASSWORD);
    chmodSync(open, 0o644);
    const { log, text } = fileLogger();
    const base = { to: 'admin@example.com', from: 'backup@example.com', smtp: withAuth.url, starttls: true, ca: withAuth.caFile, user: 'backup' };
    const before = withAuth.received().length;
    const results = await sendNotifications([{ email: { ...base, passwordFile: wrong } }, { email: { ...base, passwordFile: open } }], partial, { log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toMatch(/535|auth/i);
    expect(results[1]!.ok).toBe(false);
    expect(results[1]!.error).toContain(`email.passwordFile ${open} can be read by other users (mode 644)`);
    expect(withAuth.received().length).toBe(before);
    expect(text()).not.toContain('not-the-password-xyz');
    expect(text()).not.toContain(AUTH_PASSWORD);
  });

  it('takes the password from passwordEnv', async () => {
    process.env.VCB_TEST_SMTP_PASSWORD = AUTH_PASSWORD;
    const { log, text } = fileLogger();
    const results = await sendNotifications(
      [{ email: { to: 'admin@example.com', from: 'backup@example.com', smtp: withAuth.url, starttls: true, ca: withAuth.caFile, user: 'backup', passwordEnv: 'VCB_TEST_SMTP_PASSWORD' } }],
      allOk,
      { log },
    );
    expect(results[0]).toMatchObject({ ok: true });
    expect(withAuth.received().at(-1)!.message.subject).toBe('[vcbmounter] nightly: ok (1 ok, 0 failed)');
    expect(text()).not.toContain(AUTH_PASSWORD);
  });

  it('sends over smtps:// (TLS from the first byte)', async () => {
    const sink = await startSmtpSink({ mode: 'smtps' });
    try {
      const results = await sendNotifications([{ email: { to: 'admin@example.com', from: 'backup@example.com', smtp: sink.url, ca: sink.caFile } }], partial, { log: fileLogger().log });
      expect(results[0]).toMatchObject({ ok: true });
      expect(sink.received()).toHaveLength(1);
      expect(sink.received()[0]!.tls).toBe(true);
    } finally {
      await sink.stop();
    }
  });

  it('bounds a server that accepts the connection and never greets by the timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const results = await sendNotifications([{ email: { to: 'admin@example.com', from: 'backup@example.com', smtp: `smtp://127.0.0.1:${port}`, starttls: true } }], partial, {
        log: fileLogger().log,
        timeoutMs: 1500,
      });
      expect(results[0]!.ok).toBe(false);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

// --- command ------------------------------------------------------------------------------------------------

describe('command', () => {
  /** A real /bin/sh notifier writing what it was given into OUT: its args, its VCB_ variables, its stdin and the summary file. */
  function recorder(out: string): string {
    const script = join(work, `notify-${Math.random().toString(36).slice(2)}.sh`);
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `out='${out}'`,
        'mkdir -p "$out"',
        'for a in "$@"; do printf "%s\\n" "$a"; done > "$out/args"',
        'env | grep "^VCB_" | sort > "$out/env"',
        'cat > "$out/stdin"',
        'cp "$VCB_SUMMARY_FILE" "$out/summary-file"',
        'echo "told the admins (stdout)"',
        'echo "a note on stderr" >&2',
      ].join('\n'),
      { mode: 0o755 },
    );
    return script;
  }

  it('runs the program without a shell: placeholders in its args, VCB_ variables, the summary on stdin and in a temp file removed after', async () => {
    const out = join(work, 'cmd-ok');
    const script = recorder(out);
    const { log, text } = fileLogger();
    const results = await sendNotifications(
      [{ command: [script, '{status}', 'job={job}', '{ok}/{failed}', '{summaryFile}', 'literal $(touch /tmp/x); {x'] }],
      partial,
      { log },
    );
    expect(results).toEqual([{ target: `notify[0] command ${script}`, ok: true }]);
    const args = readFileSync(join(out, 'args'), 'utf8').trimEnd().split('\n');
    expect(args.slice(0, 3)).toEqual(['partial', 'job=nightly', '1/1']);
    expect(args[4]).toBe('literal $(touch /tmp/x); {x');
    const env = Object.fromEntries(readFileSync(join(out, 'env'), 'utf8').trimEnd().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ VCB_STATUS: 'partial', VCB_JOB: 'nightly', VCB_JOB_FILE: partial.job, VCB_OK: '1', VCB_FAILED: '1' });
    expect(env.VCB_SUMMARY_FILE).toBe(args[3]);
    expect(JSON.parse(readFileSync(join(out, 'stdin'), 'utf8'))).toEqual(partial);
    expect(JSON.parse(readFileSync(join(out, 'summary-file'), 'utf8'))).toEqual(partial);
    expect(existsSync(env.VCB_SUMMARY_FILE!)).toBe(false);
    const logged = text();
    expect(logged).toContain('told the admins (stdout)');
    expect(logged).toContain('a note on stderr');
    expect(logged).toContain(`notify[0] command ${script}`);
  });

  it("does not pass the variables other targets read secrets from (nor withholdEnv) to the program's environment", async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(200).end());
    try {
      process.env.VCB_TEST_SECRET_HEADER = 'header-secret';
      process.env.VCB_TEST_SECRET_HOST = 'host-secret';
      process.env.VCB_TEST_PLAIN = 'plain-value';
      const out = join(work, 'cmd-env');
      const results = await sendNotifications([{ command: [recorder(out)] }, { webhook: hook.url, headers: { 'X-Token': 'env:VCB_TEST_SECRET_HEADER' } }], partial, {
        log: fileLogger().log,
        withholdEnv: ['VCB_TEST_SECRET_HOST'],
      });
      expect(results.map((r) => r.ok)).toEqual([true, true]);
      expect(hook.requests[0]!.headers['x-token']).toBe('header-secret');
      const env = readFileSync(join(out, 'env'), 'utf8');
      expect(env).toContain('VCB_TEST_PLAIN=plain-value');
      expect(env).not.toContain('secret');
    } finally {
      await hook.close();
    }
  });

  it('reports a command that exits 3 with its program and status', async () => {
    const script = join(work, 'fails.sh');
    writeFileSync(script, '#!/bin/sh\necho "mail relay down" >&2\nexit 3\n', { mode: 0o755 });
    const results = await sendNotifications([{ command: [script] }], partial, { log: fileLogger().log });
    expect(results[0]).toEqual({ target: `notify[0] command ${script}`, ok: false, error: `${script} exited with status 3` });
  });

  it('reports a program that does not exist', async () => {
    const results = await sendNotifications([{ command: [join(work, 'no-such-notifier')] }], partial, { log: fileLogger().log });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('could not be started');
    expect(results[0]!.error).toContain('ENOENT');
  });

  it('kills a command that outlives the timeout', async () => {
    const script = join(work, 'sleeps.sh');
    writeFileSync(script, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const started = Date.now();
    const results = await sendNotifications([{ command: [script] }], partial, { log: fileLogger().log, timeoutMs: 1000 });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.error).toContain('did not finish within the notification timeout (1 s) and was killed');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('sends a when: failure target only when something failed, a when: success target only when all was ok', async () => {
    const onFailure = join(work, 'cmd-on-failure');
    const onSuccess = join(work, 'cmd-on-success');
    const targets: NotifyTarget[] = [
      { command: [recorder(onFailure)], when: 'failure' },
      { command: [recorder(onSuccess)], when: 'success' },
    ];
    const okRun = await sendNotifications(targets, allOk, { log: fileLogger().log });
    expect(okRun.map((r) => [r.ok, r.skipped])).toEqual([
      [true, true],
      [true, undefined],
    ]);
    expect(existsSync(onFailure)).toBe(false);
    expect(readFileSync(join(onSuccess, 'args'), 'utf8')).toBe('');
    rmSync(onSuccess, { recursive: true });
    const failedRun = await sendNotifications(targets, partial, { log: fileLogger().log });
    expect(failedRun.map((r) => r.skipped)).toEqual([undefined, true]);
    expect(existsSync(join(onFailure, 'stdin'))).toBe(true);
    expect(existsSync(onSuccess)).toBe(false);
  });
});

// --- all together ---------------------------------------------------------------------------------------------

describe('independence', () => {
  it('one target failing, or hanging, neither stops nor delays the others past the timeout; nothing throws', async () => {
    const hook = await httpReceiver((_, res) => res.writeHead(200).end());
    const hanging = await httpReceiver(() => {});
    const sink = await startSmtpSink({ mode: 'starttls' });
    try {
      const failing = join(work, 'fails-first.sh');
      writeFileSync(failing, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
      const out = join(work, 'after-failure');
      const ok = join(work, 'ok-after.sh');
      writeFileSync(ok, `#!/bin/sh\nmkdir -p '${out}'\ncat > '${out}/stdin'\n`, { mode: 0o755 });
      const targets: NotifyTarget[] = [
        { command: [failing] },
        { webhook: hanging.url },
        { webhook: hook.url },
        { email: { to: 'admin@example.com', from: 'backup@example.com', smtp: sink.url, starttls: true, ca: sink.caFile } },
        { command: [ok] },
      ];
      const started = Date.now();
      const results = await sendNotifications(targets, partial, { log: fileLogger().log, timeoutMs: 3000 });
      expect(Date.now() - started).toBeLessThan(8000);
      expect(results.map((r) => r.ok)).toEqual([false, false, true, true, true]);
      expect(results[0]!.error).toContain('exited with status 3');
      expect(results[1]!.error).toBe('did not finish within 3 s');
      expect(hook.requests).toHaveLength(1);
      expect(sink.received()).toHaveLength(1);
      expect(JSON.parse(readFileSync(join(out, 'stdin'), 'utf8'))).toEqual(partial);
    } finally {
      await Promise.all([hook.close(), hanging.close(), sink.stop()]);
    }
  });

  it('an interrupted run stops the targets at once and reports them', async () => {
    const hanging = await httpReceiver(() => {});
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('SIGINT')), 300);
      const started = Date.now();
      const results = await sendNotifications([{ webhook: hanging.url }], partial, { log: fileLogger().log, signal: ac.signal });
      expect(results[0]).toMatchObject({ ok: false, error: 'stopped: vcbmounter was interrupted' });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await hanging.close();
    }
  });
});

// --- the job file's notify: entries ---------------------------------------------------------------------------

describe('notifyTargetSchema', () => {
  const list = z.array(notifyTargetSchema);

  it("accepts the issue's example and the documented options", () => {
    const yaml = `
notify:
  - command: ["/usr/local/bin/backup-notify", "{status}"]
  - webhook: https://hooks.example.com/backup
  - email: { to: admin@example.com, from: backup@example.com, smtp: "smtp://mail.example.com:587", starttls: true }
  - webhook: https://hooks.example.com/backup
    headers: { Authorization: "env:HOOK_TOKEN" }
    when: failure
  - email: { to: [a@example.com, b@example.com], from: backup@example.com, smtp: "smtps://mail.example.com", user: backup, passwordFile: /etc/vcbmounter/smtp.pass, ca: /etc/ssl/private-ca.pem }
    when: always
`;
    const parsed = list.parse((parseYaml(yaml) as { notify: unknown }).notify);
    expect(parsed[0]).toEqual({ command: ['/usr/local/bin/backup-notify', '{status}'] });
    expect(parsed[3]).toEqual({ webhook: 'https://hooks.example.com/backup', headers: { Authorization: 'env:HOOK_TOKEN' }, when: 'failure' });
  });

  const refused: Array<[string, unknown, RegExp, (string | number)[]]> = [
    ['an unknown placeholder', { command: ['/bin/notify', '{vm}'] }, /unknown placeholder \{vm\}; expected one of \{status\}/, [0, 'command', 1]],
    ['two kinds in one entry', { command: ['/bin/notify'], webhook: 'https://x.example/' }, /exactly one of command:, webhook:, email:/, [0]],
    ['no kind', { when: 'always' }, /expected one of command:, webhook: or email:/, [0]],
    ['a bad when', { command: ['/bin/notify'], when: 'sometimes' }, /always, failure or success/, [0, 'when']],
    ['a webhook that is not http(s)', { webhook: 'ftp://x.example/' }, /http:\/\/ or https:\/\//, [0, 'webhook']],
    ['credentials in a webhook address', { webhook: 'https://user:pw@x.example/' }, /holds credentials/, [0, 'webhook']],
    ['an unknown key', { webhook: 'https://x.example/', header: {} }, /header/, [0]],
    ['headers on an email', { email: { to: 'a@example.com', from: 'b@example.com', smtp: 'smtp://m.example' }, headers: { A: 'b' } }, /headers belong to a webhook/, [0, 'headers']],
    ['a bad env: name', { webhook: 'https://x.example/', headers: { A: 'env:NO-DASH' } }, /not an environment variable name/, [0, 'headers', 'A']],
    ['a bad recipient', { email: { to: ['a@example.com', 'nobody'], from: 'b@example.com', smtp: 'smtp://m.example' } }, /email address/, [0, 'email', 'to', 1]],
    ['AUTH without TLS', { email: { to: 'a@example.com', from: 'b@example.com', smtp: 'smtp://m.example', user: 'u', passwordEnv: 'P' } }, /needs starttls: true/, [0, 'email', 'starttls']],
    ['a password inline', { email: { to: 'a@example.com', from: 'b@example.com', smtp: 'smtp://u:pw@m.example', starttls: true } }, /holds credentials/, [0, 'email', 'smtp']],
    ['a password key', { email: { to: 'a@example.com', from: 'b@example.com', smtp: 'smtp://m.example', starttls: true, user: 'u', password: 'x' } }, /password/, [0, 'email']],
    ['not smtp', { email: { to: 'a@example.com', from: 'b@example.com', smtp: 'http://m.example' } }, /smtp:\/\/HOST/, [0, 'email', 'smtp']],
  ];
  it.each(refused)('refuses %s, naming the path', (_, entry, message, path) => {
    const r = list.safeParse([entry]);
    expect(r.success).toBe(false);
    const issue = r.error!.issues.find((i) => message.test(i.message) || message.test(JSON.stringify(i)));
    expect(issue, JSON.stringify(r.error!.issues)).toBeDefined();
    expect(issue!.path).toEqual(path);
  });

  it('checkNotifyTargets finds, before a run, what would fail whatever its outcome (nothing secret in it)', () => {
    process.env.VCB_TEST_SET_TOKEN = 'set-token-value';
    delete process.env.VCB_TEST_UNSET_TOKEN;
    const problems = checkNotifyTargets([
      { command: [join(work, 'nonexistent-notifier')] },
      { command: ['sh', '-c', 'true'] },
      { webhook: 'https://hooks.example.com/x', headers: { A: 'env:VCB_TEST_SET_TOKEN', B: 'env:VCB_TEST_UNSET_TOKEN' } },
      { email: { to: 'a@example.com', from: 'b@example.com', smtp: 'smtp://m.example', starttls: true, user: 'u', passwordEnv: 'VCB_TEST_UNSET_TOKEN', ca: join(work, 'no-ca.pem') } },
    ]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toContain('notify[0]');
    expect(problems[0]).toContain('is not an executable file');
    expect(problems[1]).toContain('notify[2]');
    expect(problems[1]).toContain('env:VCB_TEST_UNSET_TOKEN is not set');
    expect(problems[2]).toContain('email.ca');
    expect(problems.join('\n')).not.toContain('set-token-value');
  });
});

describe('renderSummaryText', () => {
  it('has a line per VM with host, vm, result, failed step and error, bytes, duration, rate; the totals; the errors', () => {
    const text = renderSummaryText(partial);
    const lines = text.split('\n');
    expect(lines[0]).toBe('vcbmounter run /etc/vcbmounter/nightly.yaml: partial');
    const web = lines.find((l) => l.includes('web01'))!;
    expect(web).toMatch(/esx01\s+web01\s+ok\s+3\.0 GiB\s+3 min 20 s\s+15\.4 MiB\/s\s+verified/);
    const db = lines.find((l) => l.includes('db 01'))!;
    expect(db).toMatch(/esx02\s+db 01\s+FAILED\s+0 B\s+13 s\s+-\s+at snapshot: the snapshot could not be created: quiescing failed$/);
    expect(text).toContain('      the guest said: VSS writer timed out');
    expect(text).toContain('      warning: VMware Tools are old');
    expect(text).toContain('      retention deleted: /backup/esx01/web01/20241201T0100');
    expect(text).toContain('Totals: 2 VM(s): 1 ok, 1 failed; 3.0 GiB in 4 min 10 s (12.3 MiB/s)');
    expect(text).toContain('Errors:\n  - host esx03 could not be listed: connection refused');
  });
});
