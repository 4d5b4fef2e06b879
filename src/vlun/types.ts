// Contract of a snapshot disk reader: stream a frozen file's data extents in order, holes left to the consumer.

import type { BlockMap, DiskExtent } from '../esx/parse/block-map.js';

export type { BlockMap, DiskExtent } from '../esx/parse/block-map.js';

/** A frozen file on the host (base flat extent or user-snapshot delta) and its `vmkfstools -t0` map. */
export interface DiskSource {
  /** Absolute host path of the data file itself (the `-flat.vmdk` or `-delta.vmdk`, not the descriptor). */
  dataPath: string;
  blockMap: BlockMap;
}

/**
 * Receives the bytes of [offset, offset+chunk.length) of the file. Called in increasing offset order,
 * never concurrently; the reader waits for the returned promise (backpressure). The chunk's memory may
 * be reused by the reader once the promise settles: copy what must be kept.
 */
export type ChunkSink = (offset: number, chunk: Buffer) => Promise<void> | void;

export interface ReadOptions {
  signal?: AbortSignal;
  /** Bytes accounted so far for this call (mapped bytes read, plus unzeroed extents passed over); called as they are. */
  onProgress?: (bytes: number) => void;
}

/**
 * Reads every `mapped` extent of a source and hands it to the sink; `hole` and `unzeroed` extents read as
 * zeros and are not delivered (the consumer's output starts out as zeros). Read-only on the host; safe to retry.
 * Rejects with an Error naming the file and offset on a short read, or the AbortSignal's reason when aborted.
 */
export interface DiskReader {
  readonly mode: 'nbd' | 'nbdssl' | 'san';
  /** True when the reader never reuses a chunk's memory (it hands on the transport's own buffers): a sink may keep a chunk without copying it. */
  readonly chunksStayValid?: boolean;
  read(source: DiskSource, sink: ChunkSink, options?: ReadOptions): Promise<void>;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** Bytes a source occupies on the datastore: mapped plus unzeroed extents (the progress total). */
export function allocatedBytes(map: BlockMap): number {
  return map.extents.reduce((sum, e) => (e.kind === 'hole' ? sum : sum + e.length), 0);
}

/** Mapped extents, in file order. */
export function mappedExtents(map: BlockMap): DiskExtent[] {
  return map.extents.filter((e) => e.kind === 'mapped');
}

/** File ranges holding data, with neighbours that touch in the file merged (what a file-level read needs). */
export function mappedFileRanges(map: BlockMap): ByteRange[] {
  const ranges: ByteRange[] = [];
  for (const e of mappedExtents(map)) {
    const last = ranges[ranges.length - 1];
    if (last && last.offset + last.length === e.fileOffset) last.length += e.length;
    else ranges.push({ offset: e.fileOffset, length: e.length });
  }
  return ranges;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}
