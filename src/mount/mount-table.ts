// What the kernel has mounted: /proc/self/mountinfo read for the mount points under a directory.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  options: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readMountTable(): MountEntry[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    entries.push({ mountPoint: unescapeOctal(left[4] ?? ''), options: left[5] ?? '', fsType: right[0] ?? '', source: unescapeOctal(right[1] ?? '') });
  }
  return entries;
}

export function isMountPoint(path: string): boolean {
  const target = resolve(path);
  return readMountTable().some((m) => m.mountPoint === target);
}

/** Mount points at or below dir, deepest first (the order they must be unmounted in). */
export function mountsUnder(dir: string): MountEntry[] {
  const root = resolve(dir);
  return readMountTable()
    .filter((m) => m.mountPoint === root || m.mountPoint.startsWith(root + '/'))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}
