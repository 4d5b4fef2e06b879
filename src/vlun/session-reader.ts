// Reads frozen files through the host with long-lived dd loops (DdSession), a few per file: the disk server's many small reads.

import type { Transport } from '../transport/types.js';
import { untilAborted } from '../util/until-aborted.js';
import { MAX_DD_BLOCK, planDdReads, spanSmallGaps } from './dd-plan.js';
import { DdSession, DdSessionEnded } from './dd-session.js';
import { NbdReader } from './nbd-reader.js';
import { mappedFileRanges, throwIfAborted, type ChunkSink, type DiskReader, type DiskSource, type ReadOptions } from './types.js';
import { WantedBytes } from './wanted-bytes.js';

export interface SessionReaderOptions {
  mode?: 'nbd' | 'nbdssl';
  /** Loops kept per file at most; a read goes to the least busy, and a new one opens while all have work. Default 3. */
  sessionsPerFile?: number;
  /** A loop with nothing asked for this long ends; default 5 s. */
  idleMs?: number;
  /** A loop with reads waiting and no byte coming for this long is given up, its reads asked again one command each; default 15 s. */
  stallMs?: number;
  /** Holes of at most this many bytes between data are read through (and dropped); default 1 MiB. */
  maxGapBytes?: number;
}

export class SessionReader implements DiskReader {
  readonly mode: 'nbd' | 'nbdssl';
  private readonly sessions = new Map<string, DdSession[]>();
  /** Reads a failed loop left unanswered again, one command each: its error then carries the host's own message. */
  private readonly oneShot: NbdReader;
  private readonly sessionsPerFile: number;
  private readonly idleMs: number;
  private readonly stallMs: number;
  private readonly maxGapBytes: number;
  private closing = false;

  constructor(
    private readonly transport: Transport,
    options: SessionReaderOptions = {},
  ) {
    this.mode = options.mode ?? 'nbd';
    this.sessionsPerFile = Math.max(1, options.sessionsPerFile ?? 3);
    this.idleMs = options.idleMs ?? 5_000;
    this.stallMs = options.stallMs ?? 15_000;
    this.maxGapBytes = options.maxGapBytes ?? MAX_DD_BLOCK;
    this.oneShot = new NbdReader(transport, { mode: this.mode, chunkSize: 0 });
  }

  /** Loops open now, over all files. */
  get openSessions(): number {
    let open = 0;
    for (const list of this.sessions.values()) open += list.filter((s) => s.open).length;
    return open;
  }

  async read(source: DiskSource, sink: ChunkSink, options: ReadOptions = {}): Promise<void> {
    if (this.closing) throw new Error(`the reader of ${source.dataPath} is closed`);
    throwIfAborted(options.signal);
    const wanted = mappedFileRanges(source.blockMap);
    if (wanted.length === 0) return;
    const reads = spanSmallGaps(wanted, this.maxGapBytes).flatMap((r) => planDdReads(r));
    const signal = options.signal;
    // Bytes below this went to the sink already: a read repeated after a failed loop skips them (the sink's order holds).
    let delivered = 0;
    let progress = 0;
    const pieces = new WantedBytes(wanted, {
      push: async (offset, data) => {
        if (signal?.aborted) return;
        await sink(offset, data);
        delivered = offset + data.length;
        progress += data.length;
        options.onProgress?.(progress);
      },
      flush: async () => {},
    });
    const session = this.pick(source.dataPath);
    try {
      await untilAborted(Promise.all(reads.map((r) => session.request(r, (offset, data) => pieces.push(offset, data).then(() => {})))), signal);
    } catch (error) {
      throwIfAborted(signal);
      if (!(error instanceof DdSessionEnded)) throw error;
      const rest = (offset: number, data: Buffer) => {
        const skip = Math.max(0, Math.min(data.length, delivered - offset));
        return skip < data.length ? sink(offset + skip, data.subarray(skip)) : undefined;
      };
      await this.oneShot.read(source, rest, signal ? { signal } : {});
    }
  }

  /** Ends every loop. */
  async close(): Promise<void> {
    this.closing = true;
    const all = [...this.sessions.values()].flat();
    this.sessions.clear();
    await Promise.all(all.map((s) => s.close()));
  }

  /** The least busy open loop of the file, or a new one while every loop has work and there is room. */
  private pick(path: string): DdSession {
    const list = (this.sessions.get(path) ?? []).filter((s) => s.open);
    let best = list[0];
    for (const s of list) if (s.backlog < best!.backlog) best = s;
    if (!best || (best.backlog > 0 && list.length < this.sessionsPerFile)) {
      best = new DdSession(this.transport, path, this.idleMs, this.stallMs);
      list.push(best);
    }
    this.sessions.set(path, list);
    return best;
  }
}
