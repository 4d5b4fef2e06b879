// Reads a frozen file's extents straight from the datastore LUN (an image file or a device the proxy can see).

import { open, type FileHandle } from 'node:fs/promises';
import { VcbError } from '../errors.js';
import { throwIfAborted, type ChunkSink, type DiskExtent, type DiskReader, type DiskSource, type ReadOptions } from './types.js';

/** LUN paths on this machine by LVID or by VMFS volume uuid (as `vmkfstools -t0` prints them). */
export type LunMap = Readonly<Record<string, string>>;

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
}

export class SanReader implements DiskReader {
  readonly mode = 'san' as const;
  private readonly chunkSize: number;
  private readonly readAhead: number;
  private readonly lunFlag: string;

  constructor(
    private readonly lunMap: LunMap,
    options: SanReaderOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? 4 * 1024 * 1024;
    this.readAhead = Math.max(0, options.readAhead ?? 3);
    this.lunFlag = options.lunFlag ?? '--lun';
  }

  /** The local path of the LUN an extent lies on; a USAGE error naming the LVID and the flag when unknown. */
  lunPathFor(extent: DiskExtent): string {
    const keys = [extent.lvid, extent.volumeUuid].filter((k): k is string => k !== undefined);
    for (const key of keys) {
      const path = this.lunMap[key];
      if (path !== undefined) return path;
    }
    throw new VcbError(
      'USAGE',
      `san mode: no LUN given for LVID ${extent.lvid ?? '?'} (volume ${extent.volumeUuid ?? '?'}); ` +
        `map it with ${this.lunFlag} ${extent.lvid ?? extent.volumeUuid ?? '<lvid>'}=<device or image path>`,
    );
  }

  async read(source: DiskSource, sink: ChunkSink, options: ReadOptions = {}): Promise<void> {
    const handles = new Map<string, FileHandle>();
    try {
      const pieces: Piece[] = [];
      for (const extent of source.blockMap.extents) {
        if (extent.kind === 'hole') continue;
        if (extent.kind === 'unzeroed') {
          pieces.push({ length: extent.length, fileOffset: extent.fileOffset });
          continue;
        }
        const lunPath = this.lunPathFor(extent);
        if (!handles.has(lunPath)) handles.set(lunPath, await open(lunPath, 'r'));
        for (let done = 0; done < extent.length; done += this.chunkSize) {
          const length = Math.min(this.chunkSize, extent.length - done);
          pieces.push({ length, fileOffset: extent.fileOffset + done, lun: { path: lunPath, lvid: extent.lvid, position: extent.lunOffset! + done } });
        }
      }
      const buffers = Array.from({ length: this.readAhead + 1 }, () => Buffer.allocUnsafe(this.chunkSize));
      const reads = new Map<number, Promise<number>>();
      const startRead = (i: number) => {
        const lun = pieces[i]?.lun;
        if (!lun) return;
        const read = readFully(handles.get(lun.path)!, buffers[i % buffers.length]!.subarray(0, pieces[i]!.length), lun.position);
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
      for (const handle of handles.values()) await handle.close();
    }
  }
}

/** One read of at most chunkSize from a LUN, or an unzeroed extent (no read: zeros, counted for progress). */
interface Piece {
  length: number;
  fileOffset: number;
  lun?: { path: string; lvid: string | undefined; position: number };
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
