// A random-access, read-only view of one snapshot disk: base extents through a DiskReader, users' deltas laid over, cached in chunks.
//
// File-level backup mounts the guest's volumes from this view (NBD server, nbdfuse, loop device), so the
// guest file system's reads arrive as small requests in whatever order the kernel issues them. Each miss
// through the host costs an SSH round trip, so bytes are fetched in aligned chunks that are kept (LRU,
// bounded), a chunk is fetched once however many requests want it, and a sequential reader gets the next
// chunks fetched ahead in one batched read while it consumes the current ones. The assembly is the
// export's (workflow/export-plan.ts, export/export-vm.ts): the frozen base's mapped extents, zeros for holes
// and unzeroed extents, then each user's delta oldest first, clipped to the capacity.

import { openLocalFile, type LocalFile } from '../formats/local-file.js';
import { openSparseDelta, type SparseDelta } from '../formats/sparse-delta.js';
import type { Logger } from '../log.js';
import { untilAborted } from '../util/until-aborted.js';
import { extentsWithin, hasMappedWithin } from './clip-block-map.js';
import { throwIfAborted, type ByteRange, type DiskExtent, type DiskReader, type DiskSource } from './types.js';

export interface SnapshotDiskViewOptions {
  /** Reads the frozen base (NbdReader through the host, SanReader from the LUN). */
  reader: DiskReader;
  /** The frozen base's data file and its `vmkfstools -t0` map. */
  source: DiskSource;
  /** The virtual disk's size in bytes (its descriptor's sectors × 512); the view's size. */
  capacity: number;
  /** Local copies of the users' snapshot deltas under ours (COWD or SEsparse), oldest first. */
  deltas?: string[];
  /** Bytes per cached chunk, a multiple of 512; default 1 MiB (the VMFS block size). */
  chunkBytes?: number;
  /** Most chunks kept; default 64 (64 MiB at the default chunk size). */
  cacheChunks?: number;
  /** Chunks fetched ahead of a sequential reader, in one read; default 8, at most cacheChunks - 1. */
  readAheadChunks?: number;
  log?: Logger;
}

export interface DiskViewStats {
  /** reader.read calls (each one batched remote command line, or a few for a long one, through the host). */
  remoteReads: number;
  /** Bytes the reader delivered. */
  bytesFetched: number;
  /** Chunk lookups answered from the cache. */
  cacheHits: number;
  /** Chunk lookups that waited on a fetch already under way instead of starting one. */
  sharedFetches: number;
  /** Chunks in the cache now, and the most there ever were. */
  cachedChunks: number;
  /** Chunks being fetched now. */
  fetchingChunks: number;
  peakCachedChunks: number;
  /** The most chunk buffers alive at once: cached plus being fetched (what the view's memory is). */
  peakChunkBuffers: number;
}

const DEFAULT_CHUNK = 1024 * 1024;
const SECTOR = 512;

/** A user's delta, opened once for the life of the view, with the ranges it holds (to skip it where it holds none). */
interface OpenDelta {
  path: string;
  file: LocalFile;
  delta: SparseDelta;
  held: ByteRange[];
}

/** A chunk being fetched: its buffer fills as the reader delivers, and its waiters hear once it is whole. */
interface PendingChunk {
  index: number;
  start: number;
  end: number;
  buffer: Buffer;
  resolve(buffer: Buffer): void;
  reject(error: unknown): void;
}

export class SnapshotDiskView {
  readonly size: number;
  private readonly reader: DiskReader;
  private readonly source: DiskSource;
  private readonly chunkBytes: number;
  private readonly cacheChunks: number;
  private readonly readAheadChunks: number;
  private readonly chunkCount: number;
  private readonly log: Logger | undefined;
  private readonly deltas: OpenDelta[];
  /** For one delta read at a time: delta reads are synchronous, so no two overlays share it. */
  private readonly scratch: Buffer;

  /** Insertion order is recency: a hit moves its chunk to the end, eviction takes from the front. */
  private readonly cache = new Map<number, Buffer>();
  private readonly inflight = new Map<number, Promise<Buffer>>();
  /** Chunks read ahead and not yet asked for: a request landing on one is the sequential reader catching up. */
  private readonly readAheadUnused = new Set<number>();
  private readonly fetches = new Set<Promise<unknown>>();
  private readonly lifetime = new AbortController();
  private closed = false;
  /** End of the latest request; a request starting there continues a sequential read. */
  private lastEnd = -1;
  /** Highest chunk any fetch has asked for. */
  private highestFetched = -1;
  private readonly counters = { remoteReads: 0, bytesFetched: 0, cacheHits: 0, sharedFetches: 0, peakCachedChunks: 0, peakChunkBuffers: 0 };

  constructor(opts: SnapshotDiskViewOptions) {
    const { capacity } = opts;
    if (!Number.isSafeInteger(capacity) || capacity < 0) throw new RangeError(`disk capacity ${capacity} is not a byte count`);
    const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes % SECTOR !== 0) {
      throw new RangeError(`chunkBytes ${chunkBytes} is not a positive multiple of ${SECTOR}`);
    }
    const cacheChunks = opts.cacheChunks ?? 64;
    if (!Number.isSafeInteger(cacheChunks) || cacheChunks < 1) throw new RangeError(`cacheChunks ${cacheChunks} must be at least 1`);
    const readAhead = opts.readAheadChunks ?? 8;
    if (!Number.isSafeInteger(readAhead) || readAhead < 0) throw new RangeError(`readAheadChunks ${readAhead} must be 0 or more`);
    this.size = capacity;
    this.reader = opts.reader;
    this.source = opts.source;
    this.chunkBytes = chunkBytes;
    this.cacheChunks = cacheChunks;
    // Chunks read ahead beyond what the cache keeps would push each other out before they are used.
    this.readAheadChunks = Math.min(readAhead, cacheChunks - 1);
    this.chunkCount = Math.ceil(capacity / chunkBytes);
    this.log = opts.log;
    this.deltas = openDeltas(opts.deltas ?? [], capacity);
    this.scratch = Buffer.allocUnsafe(this.deltas.length > 0 ? chunkBytes : 0);
  }

  stats(): DiskViewStats {
    return { ...this.counters, cachedChunks: this.cache.size, fetchingChunks: this.inflight.size };
  }

  /**
   * The disk's bytes [offset, offset+length) as of the snapshot. Rejects with a RangeError outside the disk,
   * with the signal's reason when it aborts (a fetch other requests share goes on), and with an Error naming
   * the host file and offset when the fetch fails (nothing of it is kept: the next request tries again).
   */
  async readAt(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    if (this.closed) throw new Error(`the view of ${this.source.dataPath} is closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`read of ${length} bytes at ${offset} is outside the disk of ${this.size} bytes (${this.source.dataPath})`);
    }
    throwIfAborted(signal);
    const out = Buffer.alloc(length);
    if (length === 0) return out;
    const first = Math.floor(offset / this.chunkBytes);
    const last = Math.floor((offset + length - 1) / this.chunkBytes);
    let sequential = offset === this.lastEnd || first === this.highestFetched + 1;
    this.lastEnd = offset + length;

    const wanted: Array<{ index: number; chunk: Buffer | Promise<Buffer> }> = [];
    const missing: number[] = [];
    for (let index = first; index <= last; index++) {
      if (this.readAheadUnused.delete(index)) sequential = true;
      // Holes and unzeroed extents no delta covers read as zeros, and out is zeros already.
      if (!this.holdsData(index)) continue;
      const cached = this.cache.get(index);
      if (cached) {
        this.cache.delete(index);
        this.cache.set(index, cached);
        this.counters.cacheHits++;
        wanted.push({ index, chunk: cached });
        continue;
      }
      const pending = this.inflight.get(index);
      if (pending) {
        this.counters.sharedFetches++;
        wanted.push({ index, chunk: pending });
        continue;
      }
      missing.push(index);
    }
    // One read for every chunk this request lacks, even around chunks it already has.
    if (missing.length > 0) {
      this.fetch(missing, false);
      for (const index of missing) wanted.push({ index, chunk: this.inflight.get(index)! });
    }
    if (sequential) this.readAhead(last);

    const chunks = await untilAborted(Promise.all(wanted.map((w) => w.chunk)), signal);
    wanted.forEach((w, i) => {
      const chunkStart = w.index * this.chunkBytes;
      const from = Math.max(offset, chunkStart);
      const to = Math.min(offset + length, chunkStart + chunks[i]!.length);
      chunks[i]!.copy(out, from - offset, from - chunkStart, to - chunkStart);
    });
    return out;
  }

  /** Stops fetches under way (their waiters reject), waits for them, and closes the delta files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.lifetime.abort(new Error(`the view of ${this.source.dataPath} was closed`));
    await Promise.allSettled([...this.fetches]);
    this.cache.clear();
    this.readAheadUnused.clear();
    for (const d of this.deltas) d.file.close();
  }

  /** Byte range of chunk `index`; the last chunk ends at the capacity. */
  private chunkRange(index: number): { start: number; end: number } {
    const start = index * this.chunkBytes;
    return { start, end: Math.min(start + this.chunkBytes, this.size) };
  }

  /** Whether a chunk holds anything but zeros: a mapped extent of the base, or a range a delta holds. */
  private holdsData(index: number): boolean {
    const { start, end } = this.chunkRange(index);
    if (hasMappedWithin(this.source.blockMap.extents, start, end)) return true;
    return this.deltas.some((d) => overlaps(d.held, start, end));
  }

  /**
   * Fetches a sequential reader's next chunks in the background: the chunks after `last`, up to readAheadChunks
   * of them. To batch, it waits until at least half a window is missing, unless the first missing chunk is
   * already within half a window of the reader (then it would soon wait on it).
   */
  private readAhead(last: number): void {
    const window = this.readAheadChunks;
    if (window === 0 || this.closed) return;
    const end = Math.min(last + window, this.chunkCount - 1);
    const missing: number[] = [];
    for (let index = last + 1; index <= end; index++) {
      if (!this.cache.has(index) && !this.inflight.has(index) && this.holdsData(index)) missing.push(index);
    }
    const half = Math.ceil(window / 2);
    if (missing.length === 0 || (missing.length < half && missing[0]! > last + half)) return;
    this.fetch(missing, true);
  }

  /**
   * Starts one fetch of the chunks (in order). Each is in `inflight` until its bytes are all in: the reader
   * delivers in file order, so a chunk is whole once bytes past its end arrive, and a request waiting on the
   * first chunk of a read-ahead need not wait for the whole batch. A failure rejects the chunks not yet whole.
   */
  private fetch(indexes: number[], ahead: boolean): void {
    const pending: PendingChunk[] = indexes.map((index) => {
      const { start, end } = this.chunkRange(index);
      let resolve!: (buffer: Buffer) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<Buffer>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A read-ahead nobody waits for may fail unobserved; whoever does wait still gets the rejection.
      promise.catch(() => {});
      this.inflight.set(index, promise);
      return { index, start, end, buffer: Buffer.alloc(end - start), resolve, reject };
    });
    this.highestFetched = Math.max(this.highestFetched, indexes[indexes.length - 1]!);
    this.counters.peakChunkBuffers = Math.max(this.counters.peakChunkBuffers, this.cache.size + this.inflight.size);
    let whole = 0;
    /** Chunks ending at or before `position` have all their bytes: lay the deltas over, keep them, hand them out. */
    const wholeUpTo = (position: number) => {
      while (whole < pending.length && pending[whole]!.end <= position) {
        const chunk = pending[whole]!;
        this.overlay(chunk.start, chunk.buffer);
        whole++;
        this.inflight.delete(chunk.index);
        if (!this.closed) {
          this.cache.set(chunk.index, chunk.buffer);
          if (ahead) this.readAheadUnused.add(chunk.index);
          this.evict();
        }
        chunk.resolve(chunk.buffer);
      }
    };
    const task = (async () => {
      try {
        await this.readBase(pending, wholeUpTo);
        wholeUpTo(Infinity);
      } catch (error) {
        for (const chunk of pending.slice(whole)) {
          this.inflight.delete(chunk.index);
          chunk.reject(error);
        }
        if (ahead) this.log?.debug({ file: this.source.dataPath, chunks: pending.length - whole, err: error }, 'read-ahead failed; the chunks are read again when asked for');
      }
    })();
    this.fetches.add(task);
    void task.then(() => this.fetches.delete(task));
  }

  /** Reads the chunks' base bytes in one reader call, none when they are all holes; `wholeUpTo` hears how far the bytes are in. */
  private async readBase(pending: readonly PendingChunk[], wholeUpTo: (position: number) => void): Promise<void> {
    const extents: DiskExtent[] = [];
    for (const run of runsOf(pending)) extents.push(...extentsWithin(this.source.blockMap.extents, run.offset, run.offset + run.length));
    if (!extents.some((e) => e.kind === 'mapped')) return;
    this.counters.remoteReads++;
    const byIndex = new Map(pending.map((chunk) => [chunk.index, chunk]));
    // Bytes come in file order, so none will come before the end of these.
    const sink = (position: number, data: Buffer) => {
      this.place(position, data, byIndex);
      wholeUpTo(position + data.length);
    };
    try {
      await this.reader.read({ dataPath: this.source.dataPath, blockMap: { ...this.source.blockMap, extents } }, sink, { signal: this.lifetime.signal });
    } catch (error) {
      if (this.lifetime.signal.aborted) throw this.lifetime.signal.reason;
      const first = pending[0]!.start;
      const end = pending[pending.length - 1]!.end;
      throw new Error(`reading ${this.source.dataPath} at offset ${first} (to ${end}) for the disk view failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Copies bytes the reader delivered into the chunk buffers they belong to. */
  private place(position: number, data: Buffer, chunks: ReadonlyMap<number, PendingChunk>): void {
    this.counters.bytesFetched += data.length;
    let at = 0;
    while (at < data.length) {
      const index = Math.floor((position + at) / this.chunkBytes);
      const chunk = chunks.get(index);
      if (!chunk) throw new Error(`the reader returned bytes of ${this.source.dataPath} at ${position + at}, outside the chunks asked for`);
      const within = position + at - chunk.start;
      const take = Math.min(data.length - at, chunk.buffer.length - within);
      if (take <= 0) throw new Error(`the reader returned bytes of ${this.source.dataPath} at ${position + at}, past the disk's ${this.size} bytes`);
      data.copy(chunk.buffer, within, at, at + take);
      at += take;
    }
  }

  /** Lays each delta's held ranges in the chunk at `start` over it, oldest first (a newer delta's bytes win). */
  private overlay(start: number, buffer: Buffer): void {
    const end = start + buffer.length;
    for (const d of this.deltas) {
      if (!overlaps(d.held, start, end)) continue;
      const scratch = this.scratch.subarray(0, buffer.length);
      let held: ByteRange[];
      try {
        held = d.delta.read(scratch, start);
      } catch (error) {
        throw new Error(`reading snapshot delta ${d.path} at offset ${start} for the disk view failed: ${(error as Error).message}`, { cause: error });
      }
      for (const r of held) scratch.copy(buffer, r.offset - start, r.offset - start, r.offset - start + r.length);
    }
  }

  private evict(): void {
    while (this.cache.size > this.cacheChunks) {
      const oldest = this.cache.keys().next().value!;
      this.cache.delete(oldest);
      this.readAheadUnused.delete(oldest);
    }
    this.counters.peakCachedChunks = Math.max(this.counters.peakCachedChunks, this.cache.size);
  }
}

/** Opens the deltas and checks each is one of this disk (the export's check): a wrong file would give wrong bytes silently. */
function openDeltas(paths: readonly string[], capacity: number): OpenDelta[] {
  const opened: OpenDelta[] = [];
  let file: LocalFile | undefined;
  try {
    for (const path of paths) {
      file = openLocalFile(path, { readOnly: true });
      let delta: SparseDelta;
      try {
        delta = openSparseDelta(file);
      } catch (error) {
        throw new Error(`snapshot delta ${path}: ${(error as Error).message}`, { cause: error });
      }
      if (delta.capacity !== capacity) throw new Error(`snapshot delta ${path} is of a disk of ${delta.capacity} bytes, this disk has ${capacity}`);
      const problem = delta.layoutProblem();
      if (problem) throw new Error(`snapshot delta ${path} is not a whole delta: ${problem}`);
      opened.push({ path, file, delta, held: delta.allocatedExtents() });
      file = undefined;
    }
    return opened;
  } catch (error) {
    file?.close();
    for (const d of opened) d.file.close();
    throw error;
  }
}

/** Whether sorted, non-overlapping `ranges` meet [start, end). */
function overlaps(ranges: readonly ByteRange[], start: number, end: number): boolean {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (r.offset + r.length > start) hi = mid;
    else lo = mid + 1;
  }
  const r = ranges[lo];
  return r !== undefined && r.offset < end;
}

/** Byte spans of consecutive chunks: chunks 1,2,3,7,8 give two spans. */
function runsOf(chunks: readonly PendingChunk[]): ByteRange[] {
  const runs: Array<{ start: number; end: number }> = [];
  for (const chunk of chunks) {
    const run = runs[runs.length - 1];
    if (run && run.end === chunk.start) run.end = chunk.end;
    else runs.push({ start: chunk.start, end: chunk.end });
  }
  return runs.map((r) => ({ offset: r.start, length: r.end - r.start }));
}
