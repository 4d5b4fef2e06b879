// A file-system error in words an admin reads, with its errno code kept for searching.

const WORDS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'is a directory, not a file',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
};

/** "read-only file system (EROFS)"; an error without a known code keeps its own message, `fallback` when given. */
export function errnoInWords(e: unknown, fallback?: (code: string | undefined) => string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code && WORDS[code]) return `${WORDS[code]} (${code})`;
  if (fallback) return fallback(code);
  return code ? `${(e as Error).message.replace(/^\w+: /, '')} (${code})` : (e as Error).message;
}
