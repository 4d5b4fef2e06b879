// An `email:` notification over SMTP (nodemailer): the summary text as the body, summary.json attached, STARTTLS or TLS as the target says.

import { readFileSync } from 'node:fs';
import type { RunSummary } from '../jobfile/summary-types.js';
import type { Logger } from '../log.js';
import { VcbError } from '../errors.js';
import { errnoInWords } from '../util/errno-words.js';
import { untilAborted } from '../util/until-aborted.js';
import { TOOL_VERSION } from '../version.js';
import { renderSummaryText, summarySubject } from './render-text.js';
import { smtpAuth } from './secrets.js';
import type { EmailTarget } from './schema.js';

/** What nodemailer is given: host, port and the TLS policy from the target (exported for --dry-run and tests). */
export function smtpTransportOptions(e: EmailTarget['email'], timeoutMs: number) {
  const url = new URL(e.smtp);
  const implicitTls = url.protocol === 'smtps:';
  let ca: Buffer | undefined;
  if (e.ca !== undefined) {
    try {
      ca = readFileSync(e.ca);
    } catch (err) {
      throw new VcbError('CONFIG', `email.ca ${e.ca}: ${errnoInWords(err)}; expected a PEM file of the certificate authorities to trust`);
    }
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : implicitTls ? 465 : 25,
    secure: implicitTls,
    // starttls true: refuse to go on unless the server upgrades; false: never upgrade; absent: upgrade when offered.
    requireTLS: e.starttls === true,
    ignoreTLS: e.starttls === false,
    tls: {
      minVersion: 'TLSv1.2' as const,
      ...(ca ? { ca } : {}),
      ...(e.tlsRejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
    },
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // Neither file nor URL attachments: everything sent is built here.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
    debug: false,
  };
}

/** nodemailer's error with the server's answer when there is one ("Mail command failed: 530 5.7.0 Must issue a STARTTLS command first"). */
function smtpFailure(e: unknown, server: string): Error {
  const err = e as Error & { code?: string; response?: string };
  const msg = err.message.replace(/\s+/g, ' ').trim();
  const response = err.response && !msg.includes(err.response.trim()) ? ` (server said: ${err.response.trim()})` : '';
  const advice = /certificate|CERT_/i.test(msg) ? '; the server certificate is not trusted: give the CA that signed it (or the certificate itself) as ca: FILE' : '';
  return new Error(`${server}: ${msg}${response}${err.code ? ` [${err.code}]` : ''}${advice}`);
}

export async function sendEmail(target: EmailTarget, summary: RunSummary, o: { log: Logger; timeoutMs: number; signal: AbortSignal }): Promise<void> {
  const e = target.email;
  const options = smtpTransportOptions(e, o.timeoutMs);
  const auth = smtpAuth(e);
  if (e.tlsRejectUnauthorized === false) o.log.warn('tlsRejectUnauthorized: false: the SMTP server certificate is not checked (give ca: FILE instead)');
  // Loaded here: runs without an email target never pay for the mail library.
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({ ...options, ...(auth ? { auth } : {}) });
  const server = `${e.smtp.startsWith('smtps:') ? 'smtps' : 'smtp'}://${options.host}:${options.port}`;
  try {
    const info = await untilAborted(
      transport.sendMail({
        from: e.from,
        to: e.to,
        subject: summarySubject(summary),
        text: renderSummaryText(summary),
        headers: { 'X-Mailer': `vcbmounter/${TOOL_VERSION}` },
        attachments: [{ filename: 'summary.json', content: `${JSON.stringify(summary, null, 2)}\n`, contentType: 'application/json' }],
      }),
      o.signal,
    );
    o.log.debug({ server, messageId: info.messageId, response: info.response }, 'email accepted');
  } catch (err) {
    if (o.signal.aborted) throw err;
    throw smtpFailure(err, server);
  } finally {
    transport.close();
  }
}
