// Path helpers for the simulated host's commands: resolving against the cwd, and busybox-style error text.

import { posix } from 'node:path';
import { vfsErrorText, type VfsErrorCode } from '../vmfs/errors.js';

/** An absolute, normalized path for `path` typed in directory `cwd`. */
export function resolvePath(cwd: string, path: string): string {
  const joined = path.startsWith('/') ? path : posix.join(cwd || '/', path);
  const normalized = posix.normalize(joined);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

/** strerror texts: the Vfs's own codes, plus the stream errors commands meet. */
function messageFor(code: string): string | undefined {
  if (code === 'EPIPE') return 'Broken pipe';
  return code in VFS_CODES ? vfsErrorText(code as VfsErrorCode) : undefined;
}

const VFS_CODES: Record<VfsErrorCode, true> = { ENOENT: true, EEXIST: true, ENOTDIR: true, EISDIR: true, ENOSPC: true, ENOTEMPTY: true, EINVAL: true, EACCES: true };

/** The strerror text for an error thrown by the Vfs or a stream (falls back to the error's message). */
export function errorText(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  const text = typeof code === 'string' ? messageFor(code) : undefined;
  if (text) return text;
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
