// Where the host password comes from: -p, -p - (stdin), --password-file, VCBMOUNTER_PASSWORD, or a prompt on a terminal.

import { readFileSync, statSync } from 'node:fs';
import { read } from 'read';
import { VcbError } from '../errors.js';
import { errnoInWords } from '../util/errno-words.js';

export const PASSWORD_ENV = 'VCBMOUNTER_PASSWORD';

export interface PasswordSources {
  password?: string;
  passwordFile?: string;
  env?: NodeJS.ProcessEnv;
  readStdin?: () => Promise<string>;
  /** Last resort when nothing else gave a password: ask on the terminal. */
  prompt?: () => Promise<string | undefined>;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Resolves the password without ever echoing or logging it; undefined when none was given.
 * A source that was named but holds nothing (-p '', -p - with empty stdin, an empty --password-file) is a usage
 * error: logging in with an empty password would count as a failed login toward the host's lockout.
 * An empty $VCBMOUNTER_PASSWORD counts as unset (the usual shell convention), as it always has.
 */
export async function resolvePassword(src: PasswordSources): Promise<string | undefined> {
  const env = src.env ?? process.env;
  if (src.password === '-') {
    const text = (await (src.readStdin ?? readAllStdin)()).replace(/\r?\n$/, '');
    if (text === '') throw new VcbError('USAGE', `-p -: stdin was empty (expected the password on stdin, e.g. -p - < FILE); nothing was sent to the host`);
    return text;
  }
  if (src.password === '') throw new VcbError('USAGE', `-p: the password is empty; nothing was sent to the host`);
  if (src.password !== undefined) return src.password;
  if (src.passwordFile !== undefined) return readPasswordFile(src.passwordFile);
  const fromEnv = env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (src.prompt) return src.prompt();
  return undefined;
}


/**
 * The password in --password-file (one trailing newline dropped); a path that cannot serve is a usage error saying why.
 * `flag` names where the path came from in messages (a job file's `email.passwordFile`, for instance).
 */
export function readPasswordFile(path: string, flag = `--password-file ${path}`): string {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new VcbError('USAGE', `${flag}: ${errnoInWords(e, (code) => `cannot read it (${code ?? (e as Error).message})`)}`, {}, { cause: e });
  }
  if (st.isDirectory()) throw new VcbError('USAGE', `${flag}: is a directory, not a file holding the password`);
  if (st.mode & 0o044) {
    throw new VcbError('USAGE', `${flag} can be read by other users (mode ${(st.mode & 0o777).toString(8)}); restrict it with: chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new VcbError('USAGE', `${flag}: ${errnoInWords(e, (code) => `cannot read it (${code ?? (e as Error).message})`)}`, {}, { cause: e });
  }
  if (text === '') throw new VcbError('USAGE', `${flag}: the file is empty (expected the password in it); nothing was sent to the host`);
  return text;
}

/**
 * Asks for the password on the terminal without echoing it (vcbMounter prompted when -p was absent); undefined when
 * stdin or stderr is not a terminal. An empty answer is a usage error and Ctrl-C an interrupt: neither reaches the host.
 */
export async function promptPassword(label: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string | undefined> {
  if (!input.isTTY || !output.isTTY) return undefined;
  let typed: string;
  try {
    typed = await read({ prompt: `Password for ${label}:`, silent: true, replace: '', input, output, terminal: true });
  } catch (error) {
    throw new VcbError('INTERRUPTED', `password prompt: ${(error as Error).message}; nothing was sent to the host`, {}, { cause: error });
  } finally {
    input.pause();
  }
  if (typed === '') throw new VcbError('USAGE', `password prompt: the password is empty; nothing was sent to the host`);
  return typed;
}
