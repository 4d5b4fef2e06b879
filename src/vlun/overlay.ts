// Point-in-time overlay: fetch users' frozen snapshot deltas (COWD or SEsparse) locally and lay their grains over the output.

import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openLocalFile } from '../formats/local-file.js';
import { openSparseDelta, type DeltaFormat } from '../formats/sparse-delta.js';
import type { Transport } from '../transport/types.js';
import { shellJoin } from '../util/shell-quote.js';
import { throwIfAborted, type ByteRange, type DiskReader, type DiskSource, type ReadOptions } from './types.js';

/** Positional writes into the exported image. */
export type WriteAt = (offset: number, chunk: Buffer) => Promise<void>;

const OVERLAY_CHUNK = 1024 * 1024;

/** nbd: copies a host file to localPath with `cat`; expectedSize (when given) must match. */
export async function fetchFileByCat(
  transport: Transport,
  hostPath: string,
  localPath: string,
  options: ReadOptions & { expectedSize?: number } = {},
): Promise<void> {
  const commandLine = shellJoin(['cat', hostPath]);
  const handle = transport.stream(commandLine, options.signal ? { signal: options.signal } : {});
  const finished = handle.done.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  let received = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      options.onProgress?.(received);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(handle.stdout, count, createWriteStream(localPath), options.signal ? { signal: options.signal } : {});
  } catch (error) {
    await finished;
    throw error;
  }
  const outcome = await finished;
  if ('error' in outcome) throw outcome.error;
  if (outcome.result.exitCode !== 0) {
    throw new Error(`cat ${hostPath} failed (exit ${outcome.result.exitCode}): ${outcome.result.stderr.trim()}`);
  }
  if (options.expectedSize !== undefined && received !== options.expectedSize) {
    throw new Error(`short read of ${hostPath}: got ${received} of ${options.expectedSize} bytes`);
  }
}

/** san (or any reader): rebuilds a host file locally from its own block map, holes left sparse. */
export async function fetchFileWithReader(
  reader: DiskReader,
  source: DiskSource,
  localPath: string,
  options: ReadOptions = {},
): Promise<void> {
  const handle = await open(localPath, 'w');
  try {
    await handle.truncate(source.blockMap.size);
    await reader.read(
      source,
      async (offset, chunk) => {
        await handle.write(chunk, 0, chunk.length, offset);
      },
      options,
    );
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** How a delta format is named in messages. */
export function deltaFormatName(format: DeltaFormat): string {
  return format === 'seSparse' ? 'SEsparse' : 'COWD';
}

/**
 * Why a local copy of a snapshot delta is not a whole delta of a disk of `capacity` bytes (neither COWD nor
 * SEsparse, not of the `format` its descriptor names, another capacity, a header a reader must refuse, or a
 * grain map pointing past its end), or undefined when it is.
 */
export function deltaProblem(localDeltaPath: string, capacity: number, format?: DeltaFormat): string | undefined {
  const file = openLocalFile(localDeltaPath, { readOnly: true });
  try {
    const delta = openSparseDelta(file);
    if (format !== undefined && delta.format !== format) return `its descriptor names a ${deltaFormatName(format)} delta, the file is ${deltaFormatName(delta.format)}`;
    if (delta.capacity !== capacity) return `its capacity is ${delta.capacity} bytes, the disk's ${capacity}`;
    return delta.layoutProblem();
  } catch (error) {
    return (error as Error).message;
  } finally {
    file.close();
  }
}

/**
 * Writes every range a local delta (COWD or SEsparse) holds onto the output (zeros included: a delta's zeros,
 * and a SEsparse delta's zero and unmapped grains, replace older data), clipped to capacity. Returns the
 * ranges written, merged and in order.
 */
export async function applyDeltaOverlay(
  localDeltaPath: string,
  capacity: number,
  writeAt: WriteAt,
  options: { signal?: AbortSignal } = {},
): Promise<ByteRange[]> {
  const file = openLocalFile(localDeltaPath, { readOnly: true });
  try {
    const delta = openSparseDelta(file);
    const ranges = delta
      .allocatedExtents()
      .filter((r) => r.offset < capacity)
      .map((r) => ({ offset: r.offset, length: Math.min(r.length, capacity - r.offset) }));
    const buffer = Buffer.allocUnsafe(OVERLAY_CHUNK);
    for (const range of ranges) {
      for (let done = 0; done < range.length; done += OVERLAY_CHUNK) {
        throwIfAborted(options.signal);
        const piece = buffer.subarray(0, Math.min(OVERLAY_CHUNK, range.length - done));
        delta.read(piece, range.offset + done);
        await writeAt(range.offset + done, piece);
      }
    }
    return ranges;
  } finally {
    file.close();
  }
}
