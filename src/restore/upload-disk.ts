// Sends one exported disk's allocated blocks into a thin disk on the host: its block list says which, dd writes them.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { VcbError } from '../errors.js';
import { readLines } from '../export/line-file.js';
import type { EsxHost } from '../esx/index.js';
import { BLOCK, type DiskUpload } from './plan.js';

/** Largest run one SSH channel carries: long enough to keep a channel busy, short enough that a retry or an idle bound is cheap. */
export const MAX_WRITE_BYTES = 64 * BLOCK;

/** One channel's worth: contiguous disk bytes, read from one extent file. */
export interface WriteBatch {
  /** Offset in the disk. */
  offset: number;
  length: number;
  file: string;
  /** Offset in that file. */
  fileOffset: number;
}

/** The listed (non-zero) blocks' offsets, checked: increasing, on block boundaries, inside the disk. */
export async function listedBlocks(disk: DiskUpload): Promise<number[]> {
  const offsets: number[] = [];
  let n = 0;
  for await (const line of readLines(disk.blocksFile)) {
    n++;
    const offset = Number(line.slice(0, line.indexOf(' ')));
    const last = offsets[offsets.length - 1];
    if (!Number.isSafeInteger(offset) || offset % BLOCK !== 0 || offset >= disk.capacity || (last !== undefined && offset <= last)) {
      throw new VcbError('USAGE', `${disk.blocksFile} line ${n}: ${JSON.stringify(line.slice(0, 80))} is not a block offset in increasing order inside the disk (${disk.capacity} bytes)`);
    }
    offsets.push(offset);
  }
  return offsets;
}

/** Each extent file's range in the disk; their sizes must add up to the capacity. */
export async function extentRanges(disk: DiskUpload): Promise<Array<{ file: string; start: number; end: number }>> {
  const ranges = [];
  let start = 0;
  for (const file of disk.extentFiles) {
    const size = (await stat(file)).size;
    ranges.push({ file, start, end: start + size });
    start += size;
  }
  if (start !== disk.capacity) {
    throw new VcbError('USAGE', `the extent files of ${disk.slot} (${disk.extentFiles.join(', ')}) hold ${start} bytes, the catalog says ${disk.capacity}: the export is damaged`);
  }
  return ranges;
}

/** Runs of listed blocks, cut at extent-file boundaries and at MAX_WRITE_BYTES: one SSH channel each. Pure. */
export function planWrites(offsets: readonly number[], capacity: number, extents: ReadonlyArray<{ file: string; start: number; end: number }>, maxBytes = MAX_WRITE_BYTES): WriteBatch[] {
  const batches: WriteBatch[] = [];
  for (const offset of offsets) {
    const end = Math.min(offset + BLOCK, capacity);
    let at = offset;
    while (at < end) {
      const extent = extents.find((e) => at >= e.start && at < e.end)!;
      const pieceEnd = Math.min(end, extent.end);
      const last = batches[batches.length - 1];
      // Every batch starts on a block boundary (dd's seek= counts blocks): block offsets and extent-file
      // boundaries (2 GiB) both are, so only a merge could make a batch start elsewhere, and merges extend.
      if (last && last.file === extent.file && last.offset + last.length === at && last.length + (pieceEnd - at) <= maxBytes) {
        last.length += pieceEnd - at;
      } else {
        batches.push({ offset: at, length: pieceEnd - at, file: extent.file, fileOffset: at - extent.start });
      }
      at = pieceEnd;
    }
  }
  return batches;
}

export interface UploadOptions {
  parallel: number;
  timeoutMs?: number;
  signal: AbortSignal;
  /** Bytes that left this proxy, as they go. */
  onBytes?: (n: number) => void;
}

/** Runs the batches, `parallel` channels at a time; the first failure stops the rest and is thrown. */
export async function writeBatches(esx: EsxHost, flatPath: string, batches: readonly WriteBatch[], o: UploadOptions): Promise<number> {
  let next = 0;
  let sent = 0;
  let failed: unknown;
  const stop = new AbortController();
  const onAbort = () => stop.abort(o.signal.reason);
  o.signal.addEventListener('abort', onAbort, { once: true });
  const worker = async () => {
    while (failed === undefined && !stop.signal.aborted && next < batches.length) {
      const b = batches[next++]!;
      // Counted as the transport pulls them: a 'data' listener on the file stream itself would start it
      // flowing before the channel is open, and what it read meanwhile would never reach the host.
      const file = createReadStream(b.file, { start: b.fileOffset, end: b.fileOffset + b.length - 1, highWaterMark: 256 * 1024 });
      const data: Readable = file.pipe(
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            sent += chunk.length;
            o.onBytes?.(chunk.length);
            done(null, chunk);
          },
        }),
      );
      try {
        await esx.writeDiskRange(flatPath, b.offset, data, { signal: stop.signal, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) });
      } catch (e) {
        failed ??= e;
        stop.abort(e);
      } finally {
        file.destroy();
        data.destroy();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.parallel, batches.length)) }, worker));
  } finally {
    o.signal.removeEventListener('abort', onAbort);
  }
  if (failed !== undefined) throw failed;
  if (o.signal.aborted) throw new VcbError('INTERRUPTED', `writing ${flatPath} was interrupted`);
  return sent;
}
