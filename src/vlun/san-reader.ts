// Reads a frozen file's extents straight from the datastore LUN (an image file or a device the proxy can see).

import { open, type FileHandle } from 'node:fs/promises';
import { VcbError } from '../errors.js';
import { throwIfAborted, type ChunkSink, type DiskExtent, type DiskReader, type DiskSource, type ReadOptions } from './types.js';

/** LUN paths on this machine by LVID or by VMFS volume uuid (as `vmkfstools -t0` prints them). */
export type LunMap = Readonly<Record<string, string>>;

export interface SanReaderOptions {
  /** Bytes per read; default 4 MiB. One buffer of this size is all the reader holds. */
  chunkSize?: number;
  /** How the CLI spells the option that maps a LUN, for the error message; default `--lun`. */
  lunFlag?: string;
}

export class SanReader implements DiskReader {
  readonly mode = 'san' as const;
  private readonly chunkSize: number;
  private readonly lunFlag: string;

  constructor(
    private readonly lunMap: LunMap,
    options: SanReaderOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? 4 * 1024 * 1024;
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
    const buffer = Buffer.allocUnsafe(this.chunkSize);
    let accounted = 0;
    try {
      for (const extent of source.blockMap.extents) {
        if (extent.kind === 'hole') continue;
        if (extent.kind === 'unzeroed') {
          accounted += extent.length;
          options.onProgress?.(accounted);
          continue;
        }
        const lunPath = this.lunPathFor(extent);
        let handle = handles.get(lunPath);
        if (!handle) {
          handle = await open(lunPath, 'r');
          handles.set(lunPath, handle);
        }
        for (let done = 0; done < extent.length; ) {
          throwIfAborted(options.signal);
          const want = Math.min(this.chunkSize, extent.length - done);
          const lunPosition = extent.lunOffset! + done;
          const got = await readFully(handle, buffer.subarray(0, want), lunPosition);
          if (got < want) {
            throw new Error(
              `short read from LUN ${lunPath} (LVID ${extent.lvid}) at ${lunPosition}: got ${got} of ${want} bytes ` +
                `for ${source.dataPath} offset ${extent.fileOffset + done}`,
            );
          }
          await sink(extent.fileOffset + done, buffer.subarray(0, want));
          done += want;
          accounted += want;
          options.onProgress?.(accounted);
        }
      }
    } finally {
      for (const handle of handles.values()) await handle.close();
    }
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
