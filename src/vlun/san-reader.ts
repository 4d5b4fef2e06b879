// Reads a frozen file's extents straight from the datastore LUN (an image file or a device the proxy can see).
//
// Reads bypass this machine's page cache (O_DIRECT) wherever the system allows it. The ESX hosts write a
// SAN LUN, not this machine, so pages cached here by an earlier read (an earlier backup, say) can be stale,
// and a cached read would return them. Direct reads also spare the kernel a copy of every byte through
// the cache, and leave the proxy's memory to other work. Where direct reads are refused (EINVAL: no
// O_DIRECT on this OS or file system, or alignment it does not accept), the LUN is read through the cache.

import { open, type FileHandle } from 'node:fs/promises';
import { VcbError } from '../errors.js';
import { alignedBuffers, DIRECT_ALIGN, isEinval, O_DIRECT, openDirect } from '../util/direct-io.js';
import { LunLocator, type LunMap } from './lun-locator.js';
import { throwIfAborted, type ChunkSink, type DiskExtent, type DiskReader, type DiskSource, type ReadOptions } from './types.js';

export type { LunMap } from './lun-locator.js';

export interface SanReaderOptions {
  /** Bytes per read; default 4 MiB. */
  chunkSize?: number;
  /**
   * Reads issued ahead of the one the sink is taking, each into its own buffer of chunkSize; default 3.
   * Extents lie scattered on the LUN, so the kernel's read-ahead cannot guess the next one: this does.
   */
  readAhead?: number;
  /** How the CLI spells the option that maps a LUN, for the error message; default `--lun`. */
  lunFlag?: string;
  /** Read with O_DIRECT where possible (see above); default true. False reads through the page cache. */
  direct?: boolean;
  /** Told once per LUN opened how it is read, and why when not directly. */
  onLunIo?: (lunPath: string, io: LunIo, reason?: string) => void;
  /** Told once per LVM extent where its VMFS partition starts on its device, and how that was found. */
  onPartition?: (lunPath: string, partitionOffset: number, how: string) => void;
}

/** How a LUN was read: `direct` bypasses this machine's page cache, `cached` goes through it. */
export type LunIo = 'direct' | 'cached';

export class SanReader implements DiskReader {
  readonly mode = 'san' as const;
  private readonly chunkSize: number;
  private readonly readAhead: number;
  private readonly lunFlag: string;
  private readonly direct: boolean;
  private readonly locator: LunLocator;
  private readonly told = new Set<string>();

  constructor(
    lunMap: LunMap,
    private readonly options: SanReaderOptions = {},
  ) {
    this.locator = new LunLocator(lunMap, options.lunFlag ?? '--lun');
    this.chunkSize = options.chunkSize ?? 4 * 1024 * 1024;
    this.readAhead = Math.max(0, options.readAhead ?? 3);
    this.lunFlag = options.lunFlag ?? '--lun';
    this.direct = options.direct ?? true;
  }

  async read(source: DiskSource, sink: ChunkSink, options: ReadOptions = {}): Promise<void> {
    const luns = new Map<string, LunFile>();
    try {
      const pieces: Piece[] = [];
      for (const extent of source.blockMap.extents) {
        if (extent.kind === 'hole') continue;
        if (extent.kind === 'unzeroed') {
          pieces.push({ length: extent.length, fileOffset: extent.fileOffset });
          continue;
        }
        const place = await this.locator.place(extent);
        const lunPath = place.path;
        const told = `${lunPath}@${place.partitionOffset}`;
        if (!this.told.has(told)) {
          this.told.add(told);
          this.options.onPartition?.(lunPath, place.partitionOffset, place.how);
        }
        if (!luns.has(lunPath)) luns.set(lunPath, await LunFile.open(lunPath, this.direct, this.options.onLunIo));
        const start = place.partitionOffset + extent.lunOffset!;
        for (let done = 0; done < extent.length; done += this.chunkSize) {
          const length = Math.min(this.chunkSize, extent.length - done);
          pieces.push({ length, fileOffset: extent.fileOffset + done, lun: { path: lunPath, lvid: extent.lvid, position: start + done } });
        }
      }
      const buffers = alignedBuffers(this.readAhead + 1, this.chunkSize);
      const reads = new Map<number, Promise<number>>();
      const startRead = (i: number) => {
        const lun = pieces[i]?.lun;
        if (!lun) return;
        const read = luns.get(lun.path)!.read(buffers[i % buffers.length]!.subarray(0, pieces[i]!.length), lun.position);
        read.catch(() => {});
        reads.set(i, read);
      };
      for (let i = 0; i < buffers.length; i++) startRead(i);
      let accounted = 0;
      try {
        for (const [i, piece] of pieces.entries()) {
          throwIfAborted(options.signal);
          const lun = piece.lun;
          if (lun) {
            const got = await reads.get(i)!;
            reads.delete(i);
            if (got < piece.length) {
              throw new Error(
                `short read from LUN ${lun.path} (LVID ${lun.lvid}) at ${lun.position}: got ${got} of ${piece.length} bytes ` +
                  `for ${source.dataPath} offset ${piece.fileOffset}`,
              );
            }
            await sink(piece.fileOffset, buffers[i % buffers.length]!.subarray(0, piece.length));
          }
          startRead(i + buffers.length);
          accounted += piece.length;
          options.onProgress?.(accounted);
        }
      } finally {
        await Promise.allSettled(reads.values());
      }
    } finally {
      for (const lun of luns.values()) await lun.close();
    }
  }
}

/** One read of at most chunkSize from a LUN, or an unzeroed extent (no read: zeros, counted for progress). */
interface Piece {
  length: number;
  fileOffset: number;
  lun?: { path: string; lvid: string | undefined; position: number };
}

/** One LUN opened for reading: directly while the system accepts it, else (and for unaligned pieces) through the cache. */
class LunFile {
  private cached: Promise<FileHandle> | undefined;

  private constructor(
    readonly path: string,
    private direct: FileHandle | undefined,
    private readonly onLunIo: SanReaderOptions['onLunIo'],
  ) {}

  static async open(path: string, tryDirect: boolean, onLunIo: SanReaderOptions['onLunIo']): Promise<LunFile> {
    if (!tryDirect) {
      onLunIo?.(path, 'cached', 'direct reads are turned off');
    } else if (O_DIRECT === undefined) {
      onLunIo?.(path, 'cached', 'this system has no O_DIRECT');
    } else {
      const direct = await openDirect(path, 'r');
      if (direct) {
        onLunIo?.(path, 'direct');
        return new LunFile(path, direct, onLunIo);
      }
      onLunIo?.(path, 'cached', 'its file system refuses O_DIRECT');
    }
    const lun = new LunFile(path, undefined, onLunIo);
    await lun.cachedHandle();
    return lun;
  }

  async read(target: Buffer, position: number): Promise<number> {
    const direct = this.direct;
    if (direct && position % DIRECT_ALIGN === 0 && target.length % DIRECT_ALIGN === 0) {
      try {
        return await readFully(direct, target, position);
      } catch (error) {
        if (!isEinval(error)) throw error;
        if (this.direct === direct) {
          this.direct = undefined;
          this.onLunIo?.(this.path, 'cached', `a direct read was refused (${(error as Error).message}); reading the rest through the page cache`);
          await direct.close().catch(() => {});
        }
      }
    }
    return readFully(await this.cachedHandle(), target, position);
  }

  async close(): Promise<void> {
    const direct = this.direct;
    this.direct = undefined;
    await direct?.close();
    if (this.cached) await (await this.cached.catch(() => undefined))?.close();
  }

  private cachedHandle(): Promise<FileHandle> {
    this.cached ??= open(this.path, 'r');
    return this.cached;
  }
}

async function readFully(handle: FileHandle, target: Buffer, position: number): Promise<number> {
  let got = 0;
  while (got < target.length) {
    const { bytesRead } = await handle.read(target, got, target.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
