// Numbers given on the command line (timeouts in seconds, retry counts), checked with a message naming the flag.

import { VcbError } from '../errors.js';

/** A number of seconds greater than 0, in milliseconds. */
export function seconds(value: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new VcbError('USAGE', `${flag} ${String(value)}: expected a number of seconds greater than 0`);
  return Math.round(n * 1000);
}

/** --connect-retries: a whole number from 0 to 20 (more would keep a cron run waiting for hours). */
export function connectRetriesFlag(value: unknown): number {
  const n = Number(value ?? 2);
  if (!Number.isInteger(n) || n < 0 || n > 20) throw new VcbError('USAGE', `--connect-retries ${String(value)}: expected a whole number from 0 to 20`);
  return n;
}
