// The job file's `notify:` entries: one zod schema per target, shared with the job file's validation, and how each is named in messages.

import { z } from 'zod';

/** Placeholders a command target's arguments may hold; each is replaced by the run's value. */
export const COMMAND_PLACEHOLDERS = ['status', 'job', 'ok', 'failed', 'summaryFile'] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A header value read from the environment at send time: `env:NAME`. */
export const ENV_REFERENCE = /^env:(.*)$/;

const when = z.enum(['always', 'failure', 'success'], { error: 'expected always, failure or success' });

const commandArgv = z
  .array(z.string(), { error: 'expected the program and its arguments as a list of strings, e.g. ["/usr/local/bin/backup-notify", "{status}"]' })
  .min(1, { error: 'expected at least the program, e.g. ["/usr/local/bin/backup-notify", "{status}"]' })
  .superRefine((argv, ctx) => {
    if (argv[0] === '') ctx.addIssue({ code: 'custom', path: [0], message: 'the program is empty; expected its path, e.g. /usr/local/bin/backup-notify' });
    argv.forEach((arg, i) => {
      for (const [, name] of arg.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
        if (!(COMMAND_PLACEHOLDERS as readonly string[]).includes(name!)) {
          ctx.addIssue({ code: 'custom', path: [i], message: `unknown placeholder {${name}}; expected one of ${COMMAND_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}` });
        }
      }
    });
  });

/** Credentials travel by reference only: an address with user:password@ in it would be logged and shown in `ps`. */
function noInlineCredentials(value: string, ctx: z.RefinementCtx, instead: string): void {
  try {
    const u = new URL(value);
    if (u.username || u.password) ctx.addIssue({ code: 'custom', message: `the address holds credentials (user:password@); ${instead}` });
  } catch {
    // Not a URL at all: the url check reports it.
  }
}

const webhookUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http:// or https:// address, e.g. https://hooks.example.com/backup' })
  .superRefine((v, ctx) => noInlineCredentials(v, ctx, 'give them as headers: { Authorization: "env:NAME" } instead'));

const headers = z
  .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'not a valid HTTP header name' }), z.string({ error: 'expected a string (a value, or env:NAME to read it from the environment)' }))
  .superRefine((h, ctx) => {
    for (const [name, value] of Object.entries(h)) {
      const ref = ENV_REFERENCE.exec(value);
      if (ref && !ENV_NAME.test(ref[1]!)) ctx.addIssue({ code: 'custom', path: [name], message: `env:${ref[1]} is not an environment variable name; expected env:NAME with letters, digits and _` });
    }
  });

const address = z.email({ error: 'expected an email address, e.g. admin@example.com' });

const smtpUrl = z
  .url({ protocol: /^smtps?$/, error: 'expected smtp://HOST[:PORT] (STARTTLS or plain, port 25 by default) or smtps://HOST[:PORT] (TLS from the start, port 465 by default)' })
  .superRefine((v, ctx) => noInlineCredentials(v, ctx, 'give user and passwordFile or passwordEnv instead'));

const emailOptions = z
  .strictObject({
    to: z.union([address, z.array(address).min(1, { error: 'expected at least one address' })], { error: 'expected an email address or a list of them' }),
    from: address,
    smtp: smtpUrl,
    /** true: STARTTLS is required; false: never upgrade (a plain connection); absent: upgrade when the server offers it. */
    starttls: z.boolean().optional(),
    user: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().regex(ENV_NAME, { error: 'expected an environment variable name (letters, digits and _)' }).optional(),
    /** A PEM file of the certificate authorities to trust for this server (a private CA, a self-signed certificate). */
    ca: z.string().min(1).optional(),
    /** false accepts any certificate: for tests and emergencies only (ca is the better way). */
    tlsRejectUnauthorized: z.boolean().optional(),
  })
  .superRefine((e, ctx) => {
    const implicitTls = e.smtp.startsWith('smtps:');
    if (e.passwordFile !== undefined && e.passwordEnv !== undefined) ctx.addIssue({ code: 'custom', path: ['passwordEnv'], message: 'give either passwordFile or passwordEnv, not both' });
    if ((e.passwordFile !== undefined || e.passwordEnv !== undefined) && e.user === undefined) ctx.addIssue({ code: 'custom', path: ['user'], message: 'a password needs the user to log in as' });
    if (e.user !== undefined && e.passwordFile === undefined && e.passwordEnv === undefined) ctx.addIssue({ code: 'custom', path: ['user'], message: 'a user needs passwordFile or passwordEnv' });
    if (implicitTls && e.starttls !== undefined) ctx.addIssue({ code: 'custom', path: ['starttls'], message: 'smtps:// is TLS from the start; starttls applies to smtp:// only' });
    if (e.user !== undefined && !implicitTls && e.starttls !== true) {
      ctx.addIssue({ code: 'custom', path: ['starttls'], message: 'SMTP AUTH over smtp:// needs starttls: true (else the password could cross the network in clear); or use smtps://' });
    }
    if (!implicitTls && e.starttls === false && (e.ca !== undefined || e.tlsRejectUnauthorized !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['starttls'], message: 'ca and tlsRejectUnauthorized apply to TLS, which starttls: false turns off' });
    }
  });

const KINDS = ['command', 'webhook', 'email'] as const;

const targetShape = z
  .strictObject({
    command: commandArgv.optional(),
    webhook: webhookUrl.optional(),
    headers: headers.optional(),
    email: emailOptions.optional(),
    when: when.optional(),
  })
  .superRefine((t, ctx) => {
    const given = KINDS.filter((k) => t[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: given.length === 0 ? 'expected one of command:, webhook: or email:' : `expected exactly one of command:, webhook:, email: in one entry, got ${given.join(', ')} (make one entry each)`,
      });
    }
    if (t.headers !== undefined && t.webhook === undefined) ctx.addIssue({ code: 'custom', path: ['headers'], message: 'headers belong to a webhook: target' });
  });

export type NotifyWhen = z.infer<typeof when>;
export type EmailTargetOptions = z.infer<typeof emailOptions>;

export interface CommandTarget {
  command: string[];
  when?: NotifyWhen;
}
export interface WebhookTarget {
  webhook: string;
  /** Values `env:NAME` are read from the environment when sending; no value is ever logged. */
  headers?: Record<string, string>;
  when?: NotifyWhen;
}
export interface EmailTarget {
  email: EmailTargetOptions;
  when?: NotifyWhen;
}
/** One entry of `notify:`, as written in the job file (absent `when` means always). */
export type NotifyTarget = CommandTarget | WebhookTarget | EmailTarget;

/** Validates one `notify:` entry; its output is the entry as written, typed as one of the three kinds. */
export const notifyTargetSchema = targetShape.transform((t) => {
  const base = t.when !== undefined ? { when: t.when } : {};
  if (t.command !== undefined) return { command: t.command, ...base } as NotifyTarget;
  if (t.webhook !== undefined) return { webhook: t.webhook, ...(t.headers ? { headers: t.headers } : {}), ...base } as NotifyTarget;
  return { email: t.email!, ...base } as NotifyTarget;
});

export function isCommandTarget(t: NotifyTarget): t is CommandTarget {
  return 'command' in t;
}
export function isWebhookTarget(t: NotifyTarget): t is WebhookTarget {
  return 'webhook' in t;
}

/**
 * How messages and results name a target, without anything secret: a command by its program (arguments may carry
 * tokens), a webhook by its origin (paths such as Slack's hold the token), an email by its recipients and server.
 */
export function describeTarget(t: NotifyTarget): string {
  if (isCommandTarget(t)) return `command ${t.command[0]}`;
  if (isWebhookTarget(t)) {
    try {
      const u = new URL(t.webhook);
      return `webhook ${u.origin}${u.pathname === '/' && !u.search ? '' : '/…'}`;
    } catch {
      return 'webhook (an invalid address)';
    }
  }
  const to = Array.isArray(t.email.to) ? t.email.to.join(', ') : t.email.to;
  let server = t.email.smtp;
  try {
    const u = new URL(t.email.smtp);
    server = `${u.protocol}//${u.host}`;
  } catch {
    // described as written
  }
  return `email to ${to} via ${server}`;
}
