// The secrets a notification needs, read when it is sent: `env:NAME` header values and the SMTP password (file or environment).

import { VcbError } from '../errors.js';
import { readPasswordFile } from '../workflow/credentials.js';
import { ENV_REFERENCE, isCommandTarget, isWebhookTarget, type EmailTargetOptions, type NotifyTarget } from './schema.js';

/** The headers with `env:NAME` values replaced by the variable's value; an unset or empty one is a CONFIG error naming it (never its value). */
export function resolveHeaders(headers: Record<string, string> | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const ref = ENV_REFERENCE.exec(value);
    if (!ref) {
      out[name] = value;
      continue;
    }
    const fromEnv = env[ref[1]!];
    if (fromEnv === undefined || fromEnv === '') {
      throw new VcbError('CONFIG', `webhook header ${name}: env:${ref[1]} is not set in vcbmounter's environment (or is empty); set it, e.g. in the cron job's environment`);
    }
    out[name] = fromEnv;
  }
  return out;
}

/** The SMTP AUTH credentials, or undefined when the target has no user. */
export function smtpAuth(e: EmailTargetOptions, env: NodeJS.ProcessEnv = process.env): { user: string; pass: string } | undefined {
  if (e.user === undefined) return undefined;
  if (e.passwordFile !== undefined) return { user: e.user, pass: readPasswordFile(e.passwordFile, `email.passwordFile ${e.passwordFile}`) };
  if (e.passwordEnv !== undefined) {
    const pass = env[e.passwordEnv];
    if (pass === undefined || pass === '') throw new VcbError('CONFIG', `email.passwordEnv: ${e.passwordEnv} is not set in vcbmounter's environment (or is empty); set it, or use passwordFile`);
    return { user: e.user, pass };
  }
  throw new VcbError('CONFIG', 'email.user: a user needs passwordFile or passwordEnv');
}

/** The environment variables the targets read secrets from: a command target's program does not inherit them. */
export function secretEnvNames(targets: NotifyTarget[]): string[] {
  const names = new Set<string>();
  for (const t of targets) {
    if (isCommandTarget(t)) continue;
    if (isWebhookTarget(t)) {
      for (const value of Object.values(t.headers ?? {})) {
        const ref = ENV_REFERENCE.exec(value);
        if (ref) names.add(ref[1]!);
      }
    } else if (t.email.passwordEnv !== undefined) names.add(t.email.passwordEnv);
  }
  return [...names];
}
