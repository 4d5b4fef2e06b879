// Where vcbmounter keeps its journals and locks on the backup proxy, private to the user.

import { mkdirSync, chmodSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, isAbsolute } from 'node:path';

/**
 * The state directory: `override` if given, else `$XDG_STATE_HOME/vcbmounter` (when that is an
 * absolute path), else `~/.local/state/vcbmounter`. Does not create it.
 */
export function resolveStateDir(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (override) return override;
  const xdg = env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'vcbmounter');
  return join(homedir(), '.local', 'state', 'vcbmounter');
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

export function journalDir(stateDir: string): string {
  return join(stateDir, 'journal');
}

export function lockDir(stateDir: string): string {
  return join(stateDir, 'locks');
}
