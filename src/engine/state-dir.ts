// Where vcbmounter keeps its journals and locks on the backup proxy, private to the user.

import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { VcbError } from '../errors.js';
import { errnoInWords } from '../util/errno-words.js';

/**
 * The state directory's path: `override` if given (made absolute: journals record paths inside it, and a
 * later cleanup may run from another directory), else `$XDG_STATE_HOME/vcbmounter` (when that is an
 * absolute path), else `~/.local/state/vcbmounter`. Touches nothing.
 */
export function stateDirPath(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (override) return resolve(override);
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'vcbmounter');
  return join(homedir(), '.local', 'state', 'vcbmounter');
}

/**
 * The state directory (see stateDirPath), created private if missing and checked writable, so that a path
 * that cannot hold journals and locks is refused as a usage error before anything is contacted or taken,
 * naming where the path came from and why it cannot serve.
 */
export function resolveStateDir(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = stateDirPath(override, env);
  const origin = override
    ? `--state-dir ${dir}`
    : `state directory ${dir} (the default${env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? ', from $XDG_STATE_HOME' : ''}; choose another with --state-dir)`;
  try {
    ensurePrivateDir(dir);
    probeWritable(dir);
  } catch (e) {
    const { text, cause } = why(e, dir);
    throw new VcbError('USAGE', `${origin}: cannot keep journals and locks there: ${text}`, {}, { cause });
  }
  return dir;
}

/**
 * Creates `dir` (and parents) with mode 0700 if missing, and returns it. An existing directory
 * we own that others can read is tightened to 0700.
 */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o077) !== 0 && typeof process.getuid === 'function' && st.uid === process.getuid()) {
    chmodSync(dir, 0o700);
  }
  return dir;
}

/** Creates and removes a file in dir: access(W_OK) says yes to root on a mode 0555 directory and can miss a full disk. */
function probeWritable(dir: string): void {
  const probe = join(dir, `.write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  closeSync(openSync(probe, 'wx', 0o600));
  unlinkSync(probe);
}

/** The cause in words, with the errno code, and the error that shows it; a file standing where a directory must be is named. */
function why(e: unknown, dir: string): { text: string; cause: unknown } {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR') {
    const file = nearestNonDirectory(dir);
    if (file === dir) return { text: `it is a file, not a directory (${code})`, cause: e };
    if (file) return { text: `${file} is a file, not a directory (${code})`, cause: e };
  }
  if (code === 'ENOENT') {
    // A recursive mkdir that cannot create a directory (a read-only mount) reports ENOENT; the parent it
    // could not write in tells the real cause.
    const parent = nearestExisting(dir);
    try {
      if (parent) accessSync(parent, constants.W_OK);
    } catch (denied) {
      return { text: `cannot create it in ${parent}: ${errnoInWords(denied)}`, cause: denied };
    }
  }
  return { text: errnoInWords(e), cause: e };
}


/** The nearest of dir and its ancestors that exists. */
function nearestExisting(dir: string): string | undefined {
  for (let p = dir; ; p = dirname(p)) {
    try {
      statSync(p);
      return p;
    } catch {
      if (dirname(p) === p) return undefined;
    }
  }
}

/** dir itself or its nearest existing ancestor, when that is not a directory; undefined otherwise. */
function nearestNonDirectory(dir: string): string | undefined {
  for (let p = dir; ; p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? undefined : p;
    } catch {
      if (dirname(p) === p) return undefined;
    }
  }
}

export function journalDir(stateDir: string): string {
  return join(stateDir, 'journal');
}

export function lockDir(stateDir: string): string {
  return join(stateDir, 'locks');
}
