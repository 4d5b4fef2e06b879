// Structured logging: pino with vcbMounter's -L 0..6 mapped onto levels, human output on a terminal, secrets redacted.
// pino-pretty is loaded only when a terminal needs it (cron runs never pay for it).

import { openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { VcbError } from './errors.js';
import { pino, type Logger } from 'pino';
import { createRequire } from 'node:module';
import { releaseTerminalLine } from './util/terminal-line.js';

export type { Logger } from 'pino';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'debug', 'trace'] as const;

/** Keys whose values never reach a log line, wherever they appear. */
export const REDACT_PATHS = ['password', '*.password', 'pass', '*.pass', 'passphrase', '*.passphrase', 'privateKey', '*.privateKey', 'options.password'];

export interface LogOptions {
  /** vcbMounter's -L: 0 fatal only ... 3 default ... 6 trace including every remote command. */
  level: number;
  /** Force JSON lines even on a terminal. */
  json?: boolean;
  /** Write logs here instead of stderr. */
  file?: string;
}

export function levelFor(l: number): string {
  return LEVELS[Math.max(0, Math.min(6, Math.trunc(l)))]!;
}

export function createLogger(opts: LogOptions): Logger {
  const level = levelFor(opts.level);
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  if (opts.file) {
    let fd: number;
    try {
      fd = openSync(opts.file, 'a', 0o600);
    } catch (e) {
      throw new VcbError('USAGE', `--log-file ${opts.file}: cannot open it for writing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    // A file is read by people: ISO times, not epoch milliseconds (stderr's JSON lines stay pino's own, for machines).
    return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: fd, sync: true }));
  }
  if (!opts.json && process.stderr.isTTY) {
    const pinoPretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    // Each line clears a progress line first, so that a log line is never glued to it.
    const terminal = new Writable({
      write(chunk: Buffer, _encoding, done) {
        releaseTerminalLine();
        writeSync(2, chunk);
        done();
      },
    });
    return pino(base, pinoPretty({ destination: terminal, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' }));
  }
  return pino(base, pino.destination({ dest: 2, sync: true }));
}
