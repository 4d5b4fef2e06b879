// Stream plumbing for the simulated host's commands: chunked reads and writes that honour backpressure and abort.

import { Readable, Writable } from 'node:stream';
import type { RandomAccessFile } from '../../formats/random-access.js';

/** Largest chunk a command reads or writes at once. */
export const CHUNK_SIZE = 1024 * 1024;

export class StreamStop extends Error {
  override name = 'StreamStop';
  constructor(readonly code: 'EPIPE' | 'ABORTED') {
    super(code === 'EPIPE' ? 'Broken pipe' : 'Aborted');
  }
}

/** True for errors that mean "the reader went away or the session ended": commands exit quietly on them. */
export function isStreamStop(err: unknown): err is StreamStop {
  return err instanceof StreamStop;
}

/** Writes one chunk and waits until the stream has accepted it (which is when ssh2 has window for it). */
export function writeChunk(out: Writable, chunk: Uint8Array | string, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new StreamStop('ABORTED'));
  if (out.destroyed || out.writableEnded) return Promise.reject(new StreamStop('EPIPE'));
  if (chunk.length === 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      out.off('close', onClose);
      out.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(new StreamStop('ABORTED'));
    const onClose = () => finish(new StreamStop('EPIPE'));
    const onError = (err: Error) => finish(err);
    signal.addEventListener('abort', onAbort, { once: true });
    out.once('close', onClose);
    out.once('error', onError);
    out.write(chunk, (err) => {
      const code = (err as { code?: string } | null | undefined)?.code;
      finish(code === 'ERR_STREAM_DESTROYED' ? new StreamStop('EPIPE') : err);
    });
  });
}

/** Reads the next chunk without ever destroying the stream; null at end of input. */
export async function readChunk(input: Readable, signal: AbortSignal): Promise<Buffer | null> {
  for (;;) {
    if (signal.aborted) throw new StreamStop('ABORTED');
    const chunk: unknown = input.read();
    if (chunk !== null) return typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    if (input.readableEnded || input.destroyed) return null;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        input.off('readable', done);
        input.off('end', done);
        input.off('close', done);
        input.off('error', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      input.once('readable', done);
      input.once('end', done);
      input.once('close', done);
      input.once('error', done);
    });
  }
}

/**
 * Reads up to and including the next newline and leaves every byte after it in the stream, as sh's `read`
 * does by reading a pipe one byte at a time (the commands after it see the rest). Returns the line without
 * its newline and whether the newline came (false: input ended first; null when nothing at all was left).
 */
export async function readLine(input: Readable, signal: AbortSignal): Promise<{ line: string; ended: boolean } | null> {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = await readChunk(input, signal);
    if (chunk === null) return parts.length === 0 ? null : { line: Buffer.concat(parts).toString('utf8'), ended: true };
    const newline = chunk.indexOf(0x0a);
    if (newline < 0) {
      parts.push(chunk);
      continue;
    }
    if (newline + 1 < chunk.length) input.unshift(chunk.subarray(newline + 1));
    parts.push(chunk.subarray(0, newline));
    return { line: Buffer.concat(parts).toString('utf8'), ended: false };
  }
}

/** Calls onChunk for every chunk of a random-access file between start and end, CHUNK_SIZE at most each. */
export async function forEachFileChunk(
  file: RandomAccessFile,
  start: number,
  end: number,
  signal: AbortSignal,
  onChunk: (chunk: Buffer) => Promise<void> | void,
): Promise<number> {
  let position = start;
  while (position < end) {
    if (signal.aborted) throw new StreamStop('ABORTED');
    const buf = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, end - position));
    const n = file.read(buf, position);
    if (n <= 0) break;
    position += n;
    await onChunk(n === buf.length ? buf : buf.subarray(0, n));
  }
  return position - start;
}

/** A Readable over a random-access file, read lazily in chunks. */
export function fileReadable(file: RandomAccessFile): Readable {
  let position = 0;
  const readable = new Readable({
    highWaterMark: CHUNK_SIZE,
    read() {
      try {
        const size = file.size();
        if (position >= size) {
          this.push(null);
          return;
        }
        const buf = Buffer.allocUnsafe(Math.min(CHUNK_SIZE, size - position));
        const n = file.read(buf, position);
        position += n;
        this.push(n > 0 ? buf.subarray(0, n) : null);
      } catch (err) {
        this.destroy(err as Error);
      }
    },
  });
  readable.on('error', () => {});
  return readable;
}

/** A Writable that appends to a random-access file starting at `position`; Vfs errors (ENOSPC) fail the write. */
export function fileWritable(file: RandomAccessFile, position: number): Writable {
  const writable = new Writable({
    highWaterMark: CHUNK_SIZE,
    write(chunk: Buffer, _encoding, callback) {
      try {
        file.write(chunk, position);
        position += chunk.length;
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
  writable.on('error', () => {});
  return writable;
}

/** A Writable that discards everything (/dev/null). */
export function nullWritable(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** A Readable with no data (/dev/null, or stdin of a command substitution). */
export function emptyReadable(): Readable {
  return Readable.from([]);
}

/** Resolves after ms, or rejects with StreamStop when the signal aborts first. */
export function sleepAbortable(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new StreamStop('ABORTED'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StreamStop('ABORTED'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Ends a writable and resolves once it finished, closed or failed (at once if it already has). */
export function endWritable(stream: Writable): Promise<void> {
  if (stream.destroyed || stream.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('finish', () => resolve());
    stream.once('close', () => resolve());
    stream.once('error', () => resolve());
    stream.end();
  });
}
