// File-name-safe keys for host and VM names: a readable prefix plus a hash, so any name maps to one file.

import { createHash } from 'node:crypto';

/** "web 01/ä" → "web_01__-3f9a1c0e2b7d": [A-Za-z0-9._-] only, at most 40+13 characters, never "." or "..". */
export function safeKey(name: string): string {
  const prefix = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.-]/, '_').slice(0, 40) || '_';
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 12);
  return `${prefix}-${hash}`;
}
