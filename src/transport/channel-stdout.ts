// A command's stdout as a Readable that passes the channel's own buffers through and pauses the channel when the reader is slow.

import { Readable } from 'node:stream';

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;

export class ChannelStdout extends Readable {
  private source: Readable | undefined;

  constructor(highWaterMark = DEFAULT_HIGH_WATER_MARK) {
    super({ highWaterMark });
  }

  /** Starts passing the channel's data on. If this stream is destroyed early, the rest is discarded and onAbandoned runs. */
  attach(source: Readable, onAbandoned: () => void): void {
    this.source = source;
    source.on('data', (chunk: Buffer) => {
      if (this.destroyed) return;
      if (!this.push(chunk)) source.pause();
    });
    source.once('end', () => {
      if (!this.destroyed) this.push(null);
    });
    const abandon = () => {
      if (this.readableEnded) return;
      source.resume();
      onAbandoned();
    };
    if (this.destroyed) abandon();
    else this.once('close', abandon);
  }

  override _read(): void {
    this.source?.resume();
  }
}
