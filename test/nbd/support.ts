// Shared by the NBD tests: a disk of pseudo-random bytes, a BlockSource over it with hooks, a logger whose lines the test can read.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { BlockSource } from '../../src/nbd/index.js';
import type { Logger } from '../../src/log.js';

/** 8 MiB and an odd tail: the size is not a multiple of 512 or 4096. */
export const DISK_SIZE = 8 * 1024 * 1024 + 1234;

/** Deterministic bytes (xorshift32), so a failure shows the same way every run. */
export function pseudoRandom(size: number, seed = 0x9e3779b9): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) b[i] = (i * 131) & 0xff;
  return b;
}

export interface TestSource extends BlockSource {
  /** Every readAt call as [offset, length]. */
  calls: [number, number][];
}

export interface SourceHooks {
  /** Runs before each read; a throw or rejection fails that read. */
  before?: (offset: number, length: number, signal?: AbortSignal) => void | Promise<void>;
}

export function bufferSource(data: Buffer, hooks: SourceHooks = {}): TestSource {
  const calls: [number, number][] = [];
  return {
    size: data.length,
    calls,
    async readAt(offset, length, signal) {
      calls.push([offset, length]);
      await hooks.before?.(offset, length, signal);
      // A copy, as a real reader returns: a view would let a server bug that reuses buffers pass unseen.
      return Buffer.from(data.subarray(offset, offset + length));
    },
  };
}

export interface LogLine {
  level: number;
  msg: string;
  err?: { message: string };
  [key: string]: unknown;
}

export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/** A private directory for sockets and files; the socket path must stay under 108 bytes. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function nbdUri(socket: string, name = ''): string {
  return `nbd+unix:///${encodeURIComponent(name)}?socket=${socket}`;
}

export async function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
