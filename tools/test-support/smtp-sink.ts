// Starts and stops tools/test-support/smtp-sink.py (a real aiosmtpd server) on a free port, with a certificate made on the fly by openssl.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { projectRoot } from './project-root.js';

export interface SmtpSinkOptions {
  /** starttls (default): plain connection that offers STARTTLS; smtps: TLS from the first byte; plain: no TLS at all. */
  mode?: 'plain' | 'starttls' | 'smtps';
  /** Refuse everything but EHLO, NOOP, QUIT and STARTTLS until the client upgraded. */
  requireStarttls?: boolean;
  /** AUTH PLAIN/LOGIN accepting this one user and password (over TLS only, as aiosmtpd requires by default). */
  auth?: { user: string; password: string; required?: boolean };
}

export interface ReceivedMail {
  mailFrom: string;
  rcptTos: string[];
  /** The message came over TLS (STARTTLS or implicit). */
  tls: boolean;
  /** The user the client logged in as, if it did. */
  login: string | null;
  message: {
    subject: string;
    from: string;
    to: string;
    headers: Record<string, string>;
    text: string | null;
    attachments: Array<{ filename: string | null; contentType: string; content: string }>;
  };
  /** The message as received, for anything the parsed form leaves out. */
  raw: string;
}

export interface SmtpSink {
  port: number;
  /** smtp://127.0.0.1:PORT or smtps://... as the mode requires. */
  url: string;
  /** The server's self-signed certificate: the CA file a client trusts it with. */
  caFile: string;
  /** Messages received so far, in order. */
  received(): ReceivedMail[];
  stop(): Promise<void>;
}

/** The Python that has aiosmtpd: Debian's /usr/bin/python3 (a pyenv or venv python3 earlier on PATH usually lacks it). */
function aiosmtpdPython(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(candidate, ['-c', 'import aiosmtpd'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error('no python3 with the aiosmtpd module; install it with: apt-get install -y python3-aiosmtpd (scripts/test does)');
}

/** A self-signed certificate for 127.0.0.1 and localhost (EC P-256: quick to make). */
function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=vcbmounter test SMTP',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { cert, key };
}

export async function startSmtpSink(o: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const mode = o.mode ?? 'starttls';
  const work = mkdtempSync(join(tmpdir(), 'vcb-smtp-sink-'));
  const mailDir = join(work, 'mail');
  mkdirSync(mailDir);
  const { cert, key } = makeCertificate(work);
  const port = await freePort();
  const args = [join(projectRoot(), 'tools', 'test-support', 'smtp-sink.py'), '--port', String(port), '--dir', mailDir, '--mode', mode, '--cert', cert, '--key', key];
  if (o.requireStarttls) args.push('--require-starttls');
  if (o.auth) {
    const passwordFile = join(work, 'auth-password');
    writeFileSync(passwordFile, o.auth.password, { mode: 0o600 });
    args.push('--auth-user', o.auth.user, '--auth-password-file', passwordFile);
    if (o.auth.required) args.push('--auth-required');
  }
  const child: ChildProcess = spawn(aiosmtpdPython(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`smtp-sink did not start within 20 s: ${stderr}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`smtp-sink exited with ${code} before it was ready: ${stderr}`));
    });
  });
  return {
    port,
    url: `${mode === 'smtps' ? 'smtps' : 'smtp'}://127.0.0.1:${port}`,
    caFile: cert,
    received: () =>
      readdirSync(mailDir)
        .filter((f) => f.endsWith('.json'))
        .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
        .map((f) => ({ ...(JSON.parse(readFileSync(join(mailDir, f), 'utf8')) as Omit<ReceivedMail, 'raw'>), raw: readFileSync(join(mailDir, f.replace(/\.json$/, '.eml')), 'utf8') })),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      if (existsSync(work)) rmSync(work, { recursive: true, force: true });
    },
  };
}
