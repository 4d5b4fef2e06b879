// What the disk server's log says went wrong: the reads of the snapshot disks it could not serve, since a given time.

import { readFileSync } from 'node:fs';

/** Messages of the errors the server logged at or after `since` (epoch ms), oldest first; [] when there is no log. */
export function serverErrorsSince(logFile: string, since: number): string[] {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as { level?: number; time?: string | number; msg?: string; err?: { message?: string } | string };
      if ((r.level ?? 0) < 50 || new Date(r.time ?? 0).getTime() < since) continue;
      const err = typeof r.err === 'string' ? r.err : r.err?.message;
      errors.push(err ?? r.msg ?? 'an error');
    } catch {
      continue;
    }
  }
  return errors;
}
