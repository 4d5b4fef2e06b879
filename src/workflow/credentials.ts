// Where the host password comes from: -p, -p - (stdin), --password-file, VCBMOUNTER_PASSWORD, or a prompt.

import { readFileSync, statSync } from 'node:fs';
import { VcbError } from '../errors.js';

export const PASSWORD_ENV = 'VCBMOUNTER_PASSWORD';

export interface PasswordSources {
  password?: string;
  passwordFile?: string;
  env?: NodeJS.ProcessEnv;
  readStdin?: () => Promise<string>;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves the password without ever echoing or logging it; undefined when none was given. */
export async function resolvePassword(src: PasswordSources): Promise<string | undefined> {
  const env = src.env ?? process.env;
  if (src.password === '-') {
    const text = await (src.readStdin ?? readAllStdin)();
    return text.replace(/\r?\n$/, '');
  }
  if (src.password !== undefined) return src.password;
  if (src.passwordFile !== undefined) {
    let mode: number;
    try {
      mode = statSync(src.passwordFile).mode;
    } catch (e) {
      throw new VcbError('USAGE', `--password-file ${src.passwordFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (mode & 0o004) {
      throw new VcbError('USAGE', `--password-file ${src.passwordFile} is readable by every user (mode ${(mode & 0o777).toString(8)}); restrict it with: chmod 600 ${src.passwordFile}`);
    }
    return readFileSync(src.passwordFile, 'utf8').replace(/\r?\n$/, '');
  }
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return undefined;
}
