// Writes one exported disk: sparse flat extent file(s), its descriptor, and its block checksum list.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildMonolithicFlatDescriptor,
  buildTwoGbMaxExtentFlatDescriptor,
  formatDescriptor,
  SECTOR_SIZE,
  TWO_GB_EXTENT_SECTORS,
  type VmdkDescriptor,
} from '../formats/vmdk-descriptor.js';
import type { ByteRange } from '../vlun/types.js';
import { BlockAssembler } from './block-assembler.js';
import { fsyncPath } from './fsync-path.js';
import { blockLine, DIGEST_BLOCK, digestPreamble, hashBlock } from './block-digest.js';
import { sharedHashThread } from './hash-thread.js';
import { LineFileWriter, readLines } from './line-file.js';
import { alignedBuffers, DIRECT_ALIGN, directWritesSuit, isEinval, openDirect } from '../util/direct-io.js';

export type DiskLayout = 'monolithicFlat' | 'twoGbMaxExtentFlat';

export interface FlatDiskWriterOptions {
  dir: string;
  /** e.g. `web01.vmdk`; extents are named after it. */
  descriptorFileName: string;
  capacity: number;
  layout: DiskLayout;
  /** Bytes per extent for twoGbMaxExtentFlat (a multiple of 512); default 2 GiB. */
  splitExtentBytes?: number;
  adapterType?: string;
  /** 1 MiB blocks held in memory while they are written and hashed, as the next ones are read; default 8. */
  blocksInMemory?: number;
  /**
   * O_DIRECT writes: 'auto' (the default) where the directory's file system is a local one that suits them
   * (util/direct-io.ts), true wherever the file system takes them, false never.
   */
  direct?: boolean | 'auto';
}

export interface WrittenDisk {
  descriptorFile: string;
  extentFiles: string[];
  blocksFile: string;
  digest: string;
}

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

/**
 * Written bytes after which an extent's dirty pages are flushed to storage in the background (fdatasync,
 * one at a time), so the disk writes overlap the transfer instead of all waiting for the final fsync.
 */
const FLUSH_EVERY = 32 * 1024 * 1024;

/** Aligned buffers for direct writes: one per write the threadpool can run at once. */
const STAGING_BUFFERS = 4;

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

export function blocksFileName(descriptorFileName: string): string {
  return `${descriptorFileName.replace(/\.vmdk$/i, '')}.blocks.sha256`;
}

/** sha256 digest of a block list file, per the definition in block-digest.ts. */
export async function digestOfBlocksFile(path: string, capacity: number): Promise<string> {
  const hash = createHash('sha256').update(digestPreamble(capacity));
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export class FlatDiskWriter {
  private readonly streamed: BlockAssembler;
  private flushError: { error: unknown } | undefined;
  private readonly staging = new StagingPool(STAGING_BUFFERS, DIGEST_BLOCK);

  private constructor(
    private readonly options: FlatDiskWriterOptions,
    readonly descriptor: VmdkDescriptor,
    private readonly extents: OpenExtent[],
    private readonly blocks: LineFileWriter,
  ) {
    this.streamed = new BlockAssembler({
      capacity: options.capacity,
      hasher: sharedHashThread(),
      write: (offset, data) => this.writeNow(offset, data),
      onLine: (line) => blocks.add(line),
      ...(options.blocksInMemory !== undefined ? { slots: options.blocksInMemory } : {}),
    });
  }

  /** Creates every extent file at its full size as a hole (truncate), and the block list file. */
  static async create(options: FlatDiskWriterOptions): Promise<FlatDiskWriter> {
    const { capacity } = options;
    if (!Number.isSafeInteger(capacity) || capacity <= 0 || capacity % SECTOR_SIZE !== 0) {
      throw new Error(`disk capacity ${capacity} is not a positive multiple of ${SECTOR_SIZE}`);
    }
    const capacitySectors = capacity / SECTOR_SIZE;
    const descriptor = options.layout === 'monolithicFlat'
      ? buildMonolithicFlatDescriptor({
          capacitySectors,
          flatFileName: `${options.descriptorFileName.replace(/\.vmdk$/i, '')}-flat.vmdk`,
          ...(options.adapterType ? { adapterType: options.adapterType } : {}),
        })
      : buildTwoGbMaxExtentFlatDescriptor({
          capacitySectors,
          descriptorFileName: options.descriptorFileName,
          extentSectors: splitSectors(options.splitExtentBytes),
          ...(options.adapterType ? { adapterType: options.adapterType } : {}),
        });
    const extents: OpenExtent[] = [];
    let start = 0;
    const direct = options.direct === undefined || options.direct === 'auto' ? await directWritesSuit(options.dir) : options.direct;
    try {
      for (const extent of descriptor.extents) {
        const length = extent.sectors * SECTOR_SIZE;
        const handle = await open(join(options.dir, extent.fileName!), 'wx+');
        const opened: OpenExtent = { start, length, fileName: extent.fileName!, handle, unflushed: 0 };
        extents.push(opened);
        await handle.truncate(length);
        if (direct) opened.direct = await openDirect(join(options.dir, extent.fileName!), 'w');
        start += length;
      }
      const blocks = await LineFileWriter.create(join(options.dir, blocksFileName(options.descriptorFileName)));
      return new FlatDiskWriter(options, descriptor, extents, blocks);
    } catch (error) {
      for (const e of extents) {
        await e.handle.close().catch(() => {});
        await e.direct?.close().catch(() => {});
      }
      throw error;
    }
  }

  /** Whether writes go around the page cache: the extents opened for O_DIRECT and not refused since. */
  get writesDirectly(): boolean {
    return this.extents.some((e) => e.direct !== undefined);
  }

  get extentFiles(): string[] {
    return this.extents.map((e) => e.fileName);
  }

  /**
   * Reader output, in increasing offset order: hashed, and written except where all zero (left as holes).
   * The bytes are copied, so the caller may reuse the chunk once this settles; writes and hashes may still
   * be running (a bounded number). A failed write is thrown by a later call, writeAt, readAt or finish.
   */
  async writeStreamed(offset: number, chunk: Buffer): Promise<void> {
    await this.streamed.push(offset, chunk);
    await this.blocks.flushIfFull();
  }

  /** Ends the streamed part: waits for its writes and block hashes and frees their memory (finish does it too). */
  async endStream(): Promise<void> {
    await this.streamed.finish();
    await this.blocks.flushIfFull();
  }

  /** Positional write of every byte given (zeros included), across extent files, after every streamed write. */
  async writeAt(offset: number, data: Buffer): Promise<void> {
    this.checkRange(offset, data.length);
    await this.streamed.settleWrites();
    await this.writeNow(offset, data);
  }

  private checkRange(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.options.capacity) {
      throw new RangeError(`write ${offset}+${length} outside disk of ${this.options.capacity} bytes`);
    }
  }

  private async writeNow(offset: number, data: Buffer): Promise<void> {
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

  private async settleFlushes(): Promise<void> {
    for (const extent of this.extents) await extent.flushing;
    if (this.flushError) throw this.flushError.error;
  }

  async readAt(offset: number, target: Buffer): Promise<void> {
    await this.streamed.settleWrites();
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

  /**
   * Completes the disk: ends the streamed hashing, rehashes from the output the blocks that overlays
   * touched, writes the descriptor, fsyncs and closes everything. Returns the files and the digest.
   */
  async finish(overlaid: readonly ByteRange[] = []): Promise<WrittenDisk> {
    const { dir, descriptorFileName, capacity } = this.options;
    const blocksFile = blocksFileName(descriptorFileName);
    const blocksPath = join(dir, blocksFile);
    await this.streamed.finish();
    await this.blocks.close();
    if (overlaid.length > 0) await this.rehashBlocks(blocksPath, overlaid);
    await this.settleFlushes();
    for (const extent of this.extents) await extent.handle.sync();
    await this.closeFiles();
    const descriptorPath = join(dir, descriptorFileName);
    await writeFile(descriptorPath, formatDescriptor(this.descriptor), { flag: 'wx' });
    await fsyncPath(descriptorPath);
    return {
      descriptorFile: descriptorFileName,
      extentFiles: this.extentFiles,
      blocksFile,
      digest: await digestOfBlocksFile(blocksPath, capacity),
    };
  }

  async abandon(): Promise<void> {
    await this.streamed.abandon();
    await this.settleFlushes().catch(() => {});
    await this.blocks.abandon();
    await this.closeFiles();
  }

  private async closeFiles(): Promise<void> {
    for (const extent of this.extents) {
      await extent.handle.close().catch(() => {});
      await extent.direct?.close().catch(() => {});
    }
  }

  /** Merges fresh hashes of the touched blocks into the sorted list (dropping blocks now all zero). */
  private async rehashBlocks(blocksPath: string, overlaid: readonly ByteRange[]): Promise<void> {
    const touched = touchedBlockOffsets(overlaid);
    const fresh = new Map<number, string | undefined>();
    const buffer = Buffer.allocUnsafe(DIGEST_BLOCK);
    for (const offset of touched) {
      const piece = buffer.subarray(0, Math.min(DIGEST_BLOCK, this.options.capacity - offset));
      await this.readAt(offset, piece);
      fresh.set(offset, hashBlock(piece));
    }
    const mergedPath = `${blocksPath}.merge`;
    const merged = await LineFileWriter.create(mergedPath);
    try {
      let next = 0;
      const emitTouchedBefore = (limit: number) => {
        while (next < touched.length && touched[next]! < limit) {
          const hex = fresh.get(touched[next]!);
          if (hex) merged.add(blockLine(touched[next]!, hex));
          next++;
        }
      };
      for await (const line of readLines(blocksPath)) {
        const offset = Number(line.slice(0, line.indexOf(' ')));
        emitTouchedBefore(offset);
        if (fresh.has(offset)) {
          emitTouchedBefore(offset + 1);
        } else {
          merged.add(`${line}\n`);
        }
        await merged.flushIfFull();
      }
      emitTouchedBefore(Number.POSITIVE_INFINITY);
      await merged.close();
    } catch (error) {
      await merged.abandon();
      throw error;
    }
    await rename(mergedPath, blocksPath);
  }
}

function splitSectors(bytes: number | undefined): number {
  if (bytes === undefined) return TWO_GB_EXTENT_SECTORS;
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % SECTOR_SIZE !== 0) {
    throw new Error(`split extent size ${bytes} is not a positive multiple of ${SECTOR_SIZE}`);
  }
  return bytes / SECTOR_SIZE;
}

/** Start offsets of the digest blocks the ranges touch, sorted, each once. */
export function touchedBlockOffsets(ranges: readonly ByteRange[]): number[] {
  const offsets = new Set<number>();
  for (const r of ranges) {
    if (r.length <= 0) continue;
    const first = Math.floor(r.offset / DIGEST_BLOCK);
    const last = Math.floor((r.offset + r.length - 1) / DIGEST_BLOCK);
    for (let b = first; b <= last; b++) offsets.add(b * DIGEST_BLOCK);
  }
  return [...offsets].sort((a, b) => a - b);
}
