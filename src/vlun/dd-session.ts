// One long-lived `dd` loop on the host for one frozen file: reads go down its stdin, their bytes come back in order on one SSH channel.
//
// A mounted volume's reads reach the host one small miss at a time. A new command per miss pays for a channel,
// a shell and dd every time; this loop pays for dd alone, and reads queued behind each other keep the host
// busy without a round trip between them (docs/benchmarks.md, row 6).

import { PassThrough } from 'node:stream';
import { eachChunk } from '../transport/each-chunk.js';
import type { Transport } from '../transport/types.js';
import { shellQuote } from '../util/shell-quote.js';
import type { DdRead } from './dd-plan.js';

/** Where a request's bytes go; awaited, so a slow consumer holds the channel back. */
export type DdBytes = (offset: number, data: Buffer) => void | Promise<void>;

interface Request {
  id: number;
  read: DdRead;
  onData: DdBytes;
  /** Data bytes still to come before the request's end line. */
  remaining: number;
  resolve(): void;
  reject(error: unknown): void;
}

/** Thrown for requests of a loop that ended while they waited (a failed dd ends it: see loopLine). */
export class DdSessionEnded extends Error {
  override name = 'DdSessionEnded';
}

const END_MARK = 'vcbmounter-dd';
/** Longest end line accepted; anything longer means the stream lost its place. */
const MAX_END_LINE = 64;

/**
 * The host's side: a stock sh loop reading "ID BS SKIP COUNT" lines. A dd that fails ends the loop, so its
 * short output can never be taken for the next request's bytes; each whole reply ends with a line naming its ID.
 */
export function loopLine(path: string): string {
  return (
    `while read -r id bs skip count; do ` +
    `dd ${shellQuote(`if=${path}`)} bs="$bs" skip="$skip" count="$count" 2>/dev/null || exit $?; ` +
    `echo "${END_MARK} $id"; done`
  );
}

export class DdSession {
  /** Requests sent and not yet answered, oldest first (the host answers in order). */
  private readonly waiting: Request[] = [];
  private readonly input = new PassThrough();
  private nextId = 1;
  private endLine = '';
  private ended: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Settles when the loop is over, never rejects. */
  readonly closed: Promise<void>;
  private readonly stop: () => void;

  constructor(
    transport: Transport,
    readonly path: string,
    /** Closes the loop after this long with nothing asked (a held channel costs the host a process). */
    private readonly idleMs = 5_000,
    /**
     * Gives up after this long with reads asked for and no byte coming: a file shorter than its map would leave
     * the loop waiting for bytes dd never sends. The reader then asks again with one command per read.
     */
    private readonly stallMs = 15_000,
  ) {
    const handle = transport.stream(loopLine(path), { stdin: this.input });
    this.stop = () => handle.stdout.destroy();
    const reading = eachChunk(handle.stdout, (chunk) => this.receive(chunk)).catch((error: unknown) => {
      // Lost its place, or the channel failed: nothing more of it can be trusted.
      this.end(error as Error);
      this.stop();
    });
    this.closed = Promise.allSettled([reading, handle.done]).then(([, outcome]) => {
      if (outcome.status === 'rejected') return this.end(outcome.reason as Error);
      const { exitCode } = outcome.value;
      this.end(new DdSessionEnded(exitCode !== 0 ? `dd of ${path} failed (exit ${exitCode})` : `the reader of ${path} ended`));
    });
    this.armIdle();
  }

  /** Whether the loop still takes requests. */
  get open(): boolean {
    return this.ended === undefined;
  }

  /** Bytes asked for and not yet delivered: how busy the loop is. */
  get backlog(): number {
    return this.waiting.reduce((sum, r) => sum + r.remaining, 0);
  }

  /** Asks for one dd read; resolves once its bytes have all gone to onData. */
  request(read: DdRead, onData: DdBytes): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    clearTimeout(this.idleTimer);
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.push({ id, read, onData, remaining: read.length, resolve, reject });
      if (this.waiting.length === 1) this.armStall();
      this.input.write(`${id} ${read.blockSize} ${read.skip} ${read.count}\n`);
    });
  }

  /** Ends the loop (its stdin closes); requests still waiting reject. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.input.end();
    await this.closed;
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.ended || this.waiting.length > 0) return;
    this.idleTimer = setTimeout(() => this.input.end(), this.idleMs);
    this.idleTimer.unref();
  }

  private armStall(): void {
    clearTimeout(this.stallTimer);
    if (this.ended || this.waiting.length === 0) return;
    this.stallTimer = setTimeout(() => {
      this.end(new DdSessionEnded(`no bytes from the reader of ${this.path} for ${this.stallMs / 1000} s`));
      this.stop();
    }, this.stallMs);
    this.stallTimer.unref();
  }

  private async receive(chunk: Buffer): Promise<void> {
    this.armStall();
    let at = 0;
    while (at < chunk.length) {
      const current = this.waiting[0];
      if (!current) throw new Error(`the reader of ${this.path} sent bytes nobody asked for`);
      if (current.remaining > 0) {
        const take = Math.min(current.remaining, chunk.length - at);
        const offset = current.read.offset + current.read.length - current.remaining;
        current.remaining -= take;
        await current.onData(offset, chunk.subarray(at, at + take));
        at += take;
        continue;
      }
      const newline = chunk.indexOf(0x0a, at);
      const upTo = newline < 0 ? chunk.length : newline;
      this.endLine += chunk.toString('latin1', at, upTo);
      at = upTo;
      if (this.endLine.length > MAX_END_LINE) throw this.lostPlace(current);
      if (newline < 0) continue;
      at++;
      if (this.endLine !== `${END_MARK} ${current.id}`) throw this.lostPlace(current);
      this.endLine = '';
      this.waiting.shift();
      current.resolve();
      this.armStall();
      this.armIdle();
    }
  }

  private lostPlace(current: Request): Error {
    return new Error(
      `the reader of ${this.path} lost its place: after the ${current.read.length} bytes at offset ${current.read.offset} ` +
        `it expected "${END_MARK} ${current.id}", not "${this.endLine.slice(0, MAX_END_LINE)}"`,
    );
  }

  private end(why: Error): void {
    this.ended ??= why;
    clearTimeout(this.idleTimer);
    clearTimeout(this.stallTimer);
    this.input.end();
    for (const request of this.waiting.splice(0)) request.reject(this.ended);
  }
}
