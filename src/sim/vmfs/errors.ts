// The VfsError the simulated file system throws: a POSIX code, the path, and the text a shell would print.

import type { VfsError } from './types.js';

export type VfsErrorCode = VfsError['code'];

const describe: Record<VfsErrorCode, string> = {
  ENOENT: 'No such file or directory',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ENOSPC: 'No space left on device',
  ENOTEMPTY: 'Directory not empty',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
};

/** The strerror-style text for a code, e.g. "No such file or directory". */
export function vfsErrorText(code: VfsErrorCode): string {
  return describe[code];
}

export class SimVfsError extends Error implements VfsError {
  override name = 'VfsError';
  readonly code: VfsErrorCode;
  readonly path: string;
  constructor(code: VfsErrorCode, path: string, detail?: string) {
    super(`${code}: ${detail ?? describe[code]}, '${path}'`);
    this.code = code;
    this.path = path;
  }
}

export function isVfsError(err: unknown, code?: VfsErrorCode): err is SimVfsError {
  return err instanceof SimVfsError && (code === undefined || err.code === code);
}
