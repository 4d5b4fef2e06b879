// What can be checked about the notify targets before a run starts (variables set, files readable, programs there), so that a
// nightly run does not find out after hours of backups that nobody can be told.

import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { smtpTransportOptions } from './send-email.js';
import { resolveHeaders, smtpAuth } from './secrets.js';
import { describeTarget, isCommandTarget, isWebhookTarget, type NotifyTarget } from './schema.js';

function findProgram(file: string, env: NodeJS.ProcessEnv): boolean {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (file.includes('/')) return executable(file);
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isAbsolute(dir) && executable(join(dir, file)));
}

/**
 * The problems that would make a target fail whatever the run's outcome, each naming `notify[i]` and what to fix
 * (never a secret's value); empty when none. Contacts nothing.
 */
export function checkNotifyTargets(targets: NotifyTarget[], env: NodeJS.ProcessEnv = process.env): string[] {
  const problems: string[] = [];
  targets.forEach((t, i) => {
    const name = `notify[${i}] ${describeTarget(t)}`;
    try {
      if (isCommandTarget(t)) {
        if (!findProgram(t.command[0]!, env)) problems.push(`${name}: ${t.command[0]} is not an executable file${t.command[0]!.includes('/') ? '' : ' on PATH'}`);
      } else if (isWebhookTarget(t)) {
        resolveHeaders(t.headers, env);
      } else {
        smtpTransportOptions(t.email, 1000);
        smtpAuth(t.email, env);
      }
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
    }
  });
  return problems;
}
