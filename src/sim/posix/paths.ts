// Path helpers for the simulated host's commands: resolving against the cwd, and busybox-style error text.

import { posix } from 'node:path';

/** An absolute, normalized path for `path` typed in directory `cwd`. */
export function resolvePath(cwd: string, path: string): string {
  const joined = path.startsWith('/') ? path : posix.join(cwd || '/', path);
  const normalized = posix.normalize(joined);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

const MESSAGES: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ENOSPC: 'No space left on device',
  ENOTEMPTY: 'Directory not empty',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
  EPIPE: 'Broken pipe',
};

/** The strerror text for an error thrown by the Vfs or a stream (falls back to the error's message). */
export function errorText(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && MESSAGES[code]) return MESSAGES[code];
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
