// Reads a frozen file through the host over SSH with the host's stock dd, many extents per remote command.

import { eachChunk } from '../transport/each-chunk.js';
import type { Transport } from '../transport/types.js';
import { ChunkCoalescer, COALESCED_CHUNK } from './chunk-coalescer.js';
import { batchReadsForLine, ddBatchLine, MAX_DD_BLOCK, planDdReads, spanSmallGaps, type DdRead } from './dd-plan.js';
import { WantedBytes, type PieceSink } from './wanted-bytes.js';
import {
  mappedFileRanges,
  throwIfAborted,
  type ByteRange,
  type ChunkSink,
  type DiskReader,
  type DiskSource,
  type ReadOptions,
} from './types.js';

export interface NbdReaderOptions {
  mode?: 'nbd' | 'nbdssl';
  /** dd commands per remote command line (one SSH channel each); default 256. */
  readsPerCommand?: number;
  /** Longest remote command line in characters (the host's shell gets it as one argument); default 30000. */
  maxCommandChars?: number;
  /** Holes of at most this many bytes between data are read through (and dropped) to save dd commands; default 1 MiB. */
  maxGapBytes?: number;
  /** Largest dd block size; default 1 MiB (the VMFS block size). */
  maxBlockSize?: number;
  /**
   * Bytes per chunk handed to the sink (SSH packets are gathered up to it, one reused buffer); default 1 MiB.
   * 0 hands over each SSH packet as it arrives, for sinks that gather bytes themselves (the export's writer).
   */
  chunkSize?: number;
}

export class NbdReader implements DiskReader {
  readonly mode: 'nbd' | 'nbdssl';
  private readonly readsPerCommand: number;
  private readonly maxCommandChars: number;
  private readonly maxGapBytes: number;
  private readonly maxBlockSize: number;
  private readonly chunkSize: number;
  readonly chunksStayValid: boolean;

  constructor(
    private readonly transport: Transport,
    options: NbdReaderOptions = {},
  ) {
    this.mode = options.mode ?? 'nbd';
    this.readsPerCommand = options.readsPerCommand ?? 256;
    this.maxCommandChars = options.maxCommandChars ?? 30_000;
    this.maxGapBytes = options.maxGapBytes ?? MAX_DD_BLOCK;
    this.maxBlockSize = options.maxBlockSize ?? MAX_DD_BLOCK;
    this.chunkSize = options.chunkSize ?? COALESCED_CHUNK;
    // Uncoalesced, each chunk is a view of an SSH packet's payload, which the SSH library allocates per packet.
    this.chunksStayValid = this.chunkSize === 0;
  }

  async read(source: DiskSource, sink: ChunkSink, options: ReadOptions = {}): Promise<void> {
    const wanted = mappedFileRanges(source.blockMap);
    const reads = spanSmallGaps(wanted, this.maxGapBytes).flatMap((r) => planDdReads(r, this.maxBlockSize));
    let accounted = 0;
    for (const e of source.blockMap.extents) if (e.kind === 'unzeroed') accounted += e.length;
    if (accounted > 0) options.onProgress?.(accounted);
    const pieces: PieceSink = this.chunkSize > 0 ? new ChunkCoalescer(sink, this.chunkSize) : { push: async (offset, data) => sink(offset, data), flush: async () => {} };
    const chunks = new WantedBytes(wanted, pieces);
    for (const batch of batchReadsForLine(source.dataPath, reads, this.readsPerCommand, this.maxCommandChars)) {
      throwIfAborted(options.signal);
      accounted = await this.readBatch(source.dataPath, batch, chunks, options, accounted);
    }
    await chunks.flush();
  }

  private async readBatch(
    path: string,
    batch: readonly DdRead[],
    chunks: WantedBytes,
    options: ReadOptions,
    accountedBefore: number,
  ): Promise<number> {
    const commandLine = ddBatchLine(path, batch);
    const handle = this.transport.stream(commandLine, options.signal ? { signal: options.signal } : {});
    const finished = handle.done.then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    let accounted = accountedBefore;
    let index = 0;
    let within = 0;
    try {
      await eachChunk(handle.stdout, async (data) => {
        throwIfAborted(options.signal);
        let used = 0;
        while (used < data.length) {
          const read = batch[index];
          if (!read) throw new Error(`dd of ${path} returned more bytes than requested (${describe(batch)})`);
          const take = Math.min(data.length - used, read.length - within);
          accounted += await chunks.push(read.offset + within, data.subarray(used, used + take));
          options.onProgress?.(accounted);
          used += take;
          within += take;
          if (within === read.length) {
            index++;
            within = 0;
          }
        }
      });
    } catch (error) {
      handle.stdout.destroy();
      await finished;
      throw error;
    }
    const outcome = await finished;
    if ('error' in outcome) throw outcome.error;
    const { exitCode, stderr } = outcome.result;
    if (exitCode !== 0) {
      throw new Error(`reading ${path} with dd failed (exit ${exitCode}): ${lastLine(stderr)}; command: ${commandLine}`);
    }
    if (index < batch.length) {
      const short = batch[index]!;
      throw new Error(
        `short read from ${path} at offset ${short.offset + within}: ` +
          `dd returned ${within} of ${short.length} bytes of the extent at offset ${short.offset}`,
      );
    }
    return accounted;
  }
}

function describe(batch: readonly DdRead[]): string {
  const first = batch[0]!;
  const last = batch[batch.length - 1]!;
  return `offsets ${first.offset}..${last.offset + last.length}`;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] || '(no error output)';
}
