// Contract of the connection to an ESX host: run a command, get its output; everything else is a driver's business.

import type { Readable } from 'node:stream';

export interface ExecOptions {
  /** Bytes written to the remote command's stdin, then EOF; or a stream piped into it (EOF when it ends). */
  stdin?: Buffer | string | Readable;
  /** Kill the command (close the channel) after this long; rejects with a TransportError code TIMEOUT. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface StreamHandle {
  /** The remote command's stdout, raw bytes, with backpressure. */
  stdout: Readable;
  /** Settles when the command ends: exit code and collected stderr. Rejects on timeout, abort or dropped connection. */
  done: Promise<{ exitCode: number; stderr: string }>;
}

/**
 * A session with one host. exec/stream take argv and quote every element for the remote shell
 * (see util/shell-quote); a non-zero exit is a result, not an error. Errors are TransportError only.
 * Calls may run concurrently (one SSH channel each).
 */
export interface Transport {
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Runs a command line the caller has already quoted (e.g. several dd joined with ';'). */
  execLine(commandLine: string, opts?: ExecOptions): Promise<ExecResult>;
  stream(commandLine: string, opts?: ExecOptions): StreamHandle;
  close(): Promise<void>;
}

export type TransportErrorCode = 'AUTH' | 'HOST_KEY' | 'TIMEOUT' | 'SOCKET' | 'ABORTED' | 'CONNECT';

export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
