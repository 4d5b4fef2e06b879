// Contract between the simulated host's shell interpreter and the commands it runs.

import type { Readable, Writable } from 'node:stream';
import type { Vfs } from '../vmfs/types.js';

export interface CommandIO {
  /** argv[0] is the command name as typed (e.g. "vim-cmd", "/bin/cat"). */
  argv: string[];
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: Record<string, string>;
  cwd: string;
  vfs: Vfs;
  /** Aborted when the SSH channel closes or the session is dropped; long commands must stop promptly. */
  signal: AbortSignal;
}

/** Runs one simple command; resolves to its exit status. Must not throw for ordinary failures: print to stderr and return non-zero. */
export type CommandImpl = (io: CommandIO) => Promise<number>;

/** Name -> implementation. Lookups use the basename of argv[0] (so /bin/cat finds cat). */
export type CommandTable = Map<string, CommandImpl>;

/** One executed simple command, as recorded in the host's command log (tests assert on it). */
export interface CommandRecord {
  session: number;
  argv: string[];
  exitCode: number;
  startedAt: number;
  endedAt: number;
  /** Set when a fault rule acted on this command. */
  fault?: string;
}
