// The open extent files of one exported disk: positional writes (O_DIRECT where the file system takes it), background flushes, reads, sync, close.

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { alignedBuffers, DIRECT_ALIGN, isEinval, openDirect } from '../util/direct-io.js';

interface OpenExtent {
  start: number;
  length: number;
  fileName: string;
  handle: FileHandle;
  /** The same file opened for direct writes (O_DIRECT), while its file system accepts them. */
  direct?: FileHandle;
  /** Bytes written since the last background flush started, and that flush while it runs. */
  unflushed: number;
  flushing?: Promise<void>;
}

/** One extent file to create: its name and its size in bytes. */
export interface ExtentFileSpec {
  fileName: string;
  length: number;
}

/**
 * Written bytes after which an extent's dirty pages are flushed to storage in the background (fdatasync,
 * one at a time), so the disk writes overlap the transfer instead of all waiting for the final fsync.
 */
const FLUSH_EVERY = 32 * 1024 * 1024;

/** Aligned buffers for direct writes: one per write the threadpool can run at once. */
const STAGING_BUFFERS = 4;

/** Page-aligned buffers for O_DIRECT writes, lent one at a time; allocated on first use, so cached-only writers never pay for them. */
class StagingPool {
  private free: Buffer[] | undefined;
  private readonly waiting: Array<(buffer: Buffer) => void> = [];

  constructor(
    private readonly count: number,
    private readonly size: number,
  ) {}

  async take(): Promise<Buffer> {
    this.free ??= alignedBuffers(this.count, this.size);
    return this.free.pop() ?? new Promise<Buffer>((resolve) => this.waiting.push(resolve));
  }

  give(buffer: Buffer): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(buffer);
    else this.free!.push(buffer);
  }
}

async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

const alignUp = (n: number) => Math.ceil(n / DIRECT_ALIGN) * DIRECT_ALIGN;
const alignDown = (n: number) => Math.floor(n / DIRECT_ALIGN) * DIRECT_ALIGN;

export class ExtentFiles {
  private flushError: { error: unknown } | undefined;
  private readonly staging: StagingPool;

  private constructor(
    private readonly extents: OpenExtent[],
    stagingBytes: number,
  ) {
    this.staging = new StagingPool(STAGING_BUFFERS, stagingBytes);
  }

  /**
   * Creates every extent file (it must not exist) at its full size as a hole (truncate), laid end to end from
   * offset 0; with `direct`, each is also opened for O_DIRECT writes staged through buffers of `stagingBytes`.
   */
  static async create(dir: string, specs: readonly ExtentFileSpec[], direct: boolean, stagingBytes: number): Promise<ExtentFiles> {
    const extents: OpenExtent[] = [];
    let start = 0;
    try {
      for (const { fileName, length } of specs) {
        const handle = await open(join(dir, fileName), 'wx+');
        const opened: OpenExtent = { start, length, fileName, handle, unflushed: 0 };
        extents.push(opened);
        await handle.truncate(length);
        if (direct) opened.direct = await openDirect(join(dir, fileName), 'w');
        start += length;
      }
      return new ExtentFiles(extents, stagingBytes);
    } catch (error) {
      await closeAll(extents);
      throw error;
    }
  }

  /** Whether writes go around the page cache: the extents opened for O_DIRECT and not refused since. */
  get writesDirectly(): boolean {
    return this.extents.some((e) => e.direct !== undefined);
  }

  get fileNames(): string[] {
    return this.extents.map((e) => e.fileName);
  }

  /** Positional write across extent files; a failed background flush is thrown by settleFlushes. */
  async write(offset: number, data: Buffer): Promise<void> {
    await this.forEachExtent(offset, data.length, async (extent, within, at, length) => {
      // The 4 KiB-aligned middle goes around the page cache when it can; the edges (and everything, when it cannot) through it.
      const from = Math.min(alignUp(within), within + length);
      const to = Math.max(from, alignDown(within + length));
      let cachedBytes = length;
      if (extent.direct && to > from && (await this.writeDirect(extent, data.subarray(at + (from - within), at + (to - within)), from))) {
        await writeAll(extent.handle, data.subarray(at, at + (from - within)), within);
        await writeAll(extent.handle, data.subarray(at + (to - within), at + length), to);
        cachedBytes = length - (to - from);
      } else {
        await writeAll(extent.handle, data.subarray(at, at + length), within);
      }
      extent.unflushed += cachedBytes;
      if (extent.unflushed >= FLUSH_EVERY && !extent.flushing) this.flushInBackground(extent);
    });
  }

  /**
   * Writes `data` at `position` (both 4 KiB-aligned) with O_DIRECT, through aligned staging memory. False
   * when the file system refuses (EINVAL): the caller writes all of `data` through the cache, and so does
   * every later write to this extent.
   */
  private async writeDirect(extent: OpenExtent, data: Buffer, position: number): Promise<boolean> {
    const direct = extent.direct;
    if (!direct) return false;
    const staging = await this.staging.take();
    try {
      for (let done = 0; done < data.length; done += staging.length) {
        const piece = data.subarray(done, done + staging.length);
        piece.copy(staging);
        await writeAll(direct, staging.subarray(0, piece.length), position + done);
      }
      return true;
    } catch (error) {
      if (!isEinval(error)) throw error;
      if (extent.direct === direct) {
        extent.direct = undefined;
        await direct.close().catch(() => {});
      }
      return false;
    } finally {
      this.staging.give(staging);
    }
  }

  private flushInBackground(extent: OpenExtent): void {
    extent.unflushed = 0;
    extent.flushing = extent.handle
      .datasync()
      .catch((error: unknown) => {
        this.flushError ??= { error };
      })
      .finally(() => {
        extent.flushing = undefined;
      });
  }

  /** Waits for the background flushes; throws the first one that failed. */
  async settleFlushes(): Promise<void> {
    for (const extent of this.extents) await extent.flushing;
    if (this.flushError) throw this.flushError.error;
  }

  /** Positional read across extent files, through the cached handles. */
  async read(offset: number, target: Buffer): Promise<void> {
    await this.forEachExtent(offset, target.length, async (extent, within, at, length) => {
      let got = 0;
      while (got < length) {
        const { bytesRead } = await extent.handle.read(target, at + got, length - got, within + got);
        if (bytesRead === 0) throw new Error(`${extent.fileName} ends before ${within + got}`);
        got += bytesRead;
      }
    });
  }

  private async forEachExtent(
    offset: number,
    length: number,
    visit: (extent: OpenExtent, within: number, at: number, length: number) => Promise<void>,
  ): Promise<void> {
    for (const extent of this.extents) {
      const from = Math.max(offset, extent.start);
      const to = Math.min(offset + length, extent.start + extent.length);
      if (from < to) await visit(extent, from - extent.start, from - offset, to - from);
    }
  }

  /** fsync of every extent file. */
  async sync(): Promise<void> {
    for (const extent of this.extents) await extent.handle.sync();
  }

  /** Closes every handle, ignoring errors: used after sync, or when abandoning. */
  async close(): Promise<void> {
    await closeAll(this.extents);
  }
}

async function closeAll(extents: readonly OpenExtent[]): Promise<void> {
  for (const extent of extents) {
    await extent.handle.close().catch(() => {});
    await extent.direct?.close().catch(() => {});
  }
}
