// Buffered appending of text lines to a file, and streaming its lines back.

import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';

const FLUSH_AT = 64 * 1024;

export class LineFileWriter {
  private pending: string[] = [];
  private pendingBytes = 0;

  private constructor(private readonly handle: FileHandle) {}

  static async create(path: string): Promise<LineFileWriter> {
    return new LineFileWriter(await open(path, 'w'));
  }

  /** Queues a line (with its newline); call flush() to bound memory. */
  add(line: string): void {
    this.pending.push(line);
    this.pendingBytes += line.length;
  }

  async flushIfFull(): Promise<void> {
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    await this.handle.write(text);
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => {});
  }
}

export async function* readLines(path: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) if (line !== '') yield line;
}
