// Whether a process id on this machine still names the process that wrote a lock or journal.

import { readFileSync } from 'node:fs';

/**
 * True if `pid` exists on this machine (EPERM counts as alive: it exists, owned by someone else).
 * With `startedBefore` (epoch ms, e.g. the lock's startedAt), a process that Linux reports as
 * started later than that (plus 5 s slack) is a reused pid and counts as dead.
 */
export function isProcessAlive(pid: number, startedBefore?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startedBefore !== undefined) {
    const started = processStartTime(pid);
    if (started !== undefined && started > startedBefore + 5_000) return false;
  }
  return true;
}

/** Epoch ms at which `pid` started, from /proc (Linux); undefined where that cannot be read. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(afterName[19]);
    const btimeLine = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('btime '));
    if (!btimeLine || !Number.isFinite(startTicks)) return undefined;
    const bootSeconds = Number(btimeLine.split(' ')[1]);
    const clockTicksPerSecond = 100;
    return (bootSeconds + startTicks / clockTicksPerSecond) * 1000;
  } catch {
    return undefined;
  }
}
