// Helpers for the shell, POSIX utility, fault and SSH server tests: a real Vfs in a temp dir and a runner capturing output.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { openVfs, type SimVfs } from '../../src/sim/vmfs/index.js';
import { runCommandLine } from '../../src/sim/shell/interp.js';
import { posixCommands } from '../../src/sim/posix/index.js';
import type { CommandRecord, CommandTable } from '../../src/sim/shell/types.js';
import type { FaultEngine } from '../../src/sim/faults.js';

export const MiB = 1024 * 1024;

export interface TempHost {
  vfs: SimVfs;
  dir: string;
  cleanup(): void;
}

export function makeTempHost(capacity = 256 * MiB): TempHost {
  const dir = mkdtempSync(join(tmpdir(), 'sim-shell-test-'));
  const vfs = openVfs({ stateDir: dir, seed: 5, datastores: [{ name: 'datastore1', capacity }] });
  return {
    vfs,
    dir,
    cleanup: () => {
      vfs.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunResult {
  status: number;
  stdout: Buffer;
  /** Sizes of the chunks stdout arrived in. */
  chunkSizes: number[];
  out: string;
  err: string;
  records: CommandRecord[];
}

export interface RunOptions {
  stdin?: string | Buffer;
  commands?: CommandTable;
  faults?: FaultEngine;
  env?: Record<string, string>;
  cwd?: string;
  signal?: AbortSignal;
  onDrop?: () => void;
}

/** Runs one command line through the interpreter with the POSIX utilities, capturing stdout, stderr and the command log. */
export async function runLine(vfs: SimVfs, line: string, opts: RunOptions = {}): Promise<RunResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => outChunks.push(c));
  stderr.on('data', (c: Buffer) => errChunks.push(c));
  const records: CommandRecord[] = [];
  const status = await runCommandLine(line, {
    commands: opts.commands ?? posixCommands(),
    vfs,
    env: opts.env ?? { PATH: '/bin:/sbin', HOME: '/' },
    stdin: opts.stdin === undefined ? Readable.from([]) : Readable.from([Buffer.from(opts.stdin)]),
    stdout,
    stderr,
    signal: opts.signal ?? new AbortController().signal,
    session: 1,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.onDrop ? { onDrop: opts.onDrop } : {}),
    log: (r) => records.push(r),
  });
  await new Promise((resolve) => setImmediate(resolve));
  const out = Buffer.concat(outChunks);
  return { status, stdout: out, chunkSizes: outChunks.map((c) => c.length), out: out.toString('utf8'), err: Buffer.concat(errChunks).toString('utf8'), records };
}

/** Deterministic bytes of any length. */
export function patternBytes(length: number, seed = 1): Buffer {
  const buf = Buffer.allocUnsafe(Math.ceil(length / 4) * 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  return buf.subarray(0, length);
}
