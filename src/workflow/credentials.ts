// Where the host password comes from: -p, -p - (stdin), --password-file, VCBMOUNTER_PASSWORD, or a prompt on a terminal.

import { readFileSync, statSync } from 'node:fs';
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


/** The password in --password-file (one trailing newline dropped); a path that cannot serve is a usage error saying why. */
function readPasswordFile(path: string): string {
  const flag = `--password-file ${path}`;
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

/** Asks for the password on the terminal without echoing it (vcbMounter prompted when -p was absent). */
export function promptPassword(label: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string | undefined> {
  if (!input.isTTY || !output.isTTY) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    // Echo goes off before the prompt shows, so nothing typed in answer to it can be echoed.
    input.setRawMode(true);
    output.write(`Password for ${label}: `);
    let typed = '';
    input.resume();
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish(typed);
          return;
        }
        if (ch === '\u0003') {
          finish(undefined);
          return;
        }
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    const finish = (value: string | undefined) => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      resolve(value);
    };
    input.on('data', onData);
  });
}
