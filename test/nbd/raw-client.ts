// A minimal NBD client for the tests, with the wire layout written out here (not taken from src/nbd/protocol.ts) so a wrong constant there shows.

import { createConnection, type Socket } from 'node:net';

export interface OptionReply {
  magic: bigint;
  option: number;
  type: number;
  data: Buffer;
}

export interface SimpleReply {
  magic: number;
  error: number;
  handle: bigint;
  data: Buffer;
}

export class RawClient {
  private buffered: Buffer[] = [];
  private size = 0;
  private waiter: (() => void) | undefined;
  private ended = false;
  /** Read lengths by handle, so a reply's data can be taken off the stream. */
  private readonly readLengths = new Map<bigint, number>();

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered.push(chunk);
      this.size += chunk.length;
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Resolves once the server closed the connection (true), or after ms without that (false). */
  closedWithin(ms: number): Promise<boolean> {
    if (this.ended) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Exactly n bytes; a server that sends fewer fails the test in seconds instead of at the test's timeout. */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.size < n) {
      if (this.ended) throw new Error(`connection closed with ${this.size} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.size} of ${n} bytes`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    // Only the chunks that hold these n bytes are joined: joining all that is buffered would be quadratic.
    let k = 0;
    let have = 0;
    while (have < n) have += this.buffered[k++]!.length;
    const head = Buffer.concat(this.buffered.slice(0, k));
    this.buffered = head.length > n ? [head.subarray(n), ...this.buffered.slice(k)] : this.buffered.slice(k);
    this.size -= n;
    return head.subarray(0, n);
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** Reads the greeting and sends client flags (fixed newstyle + no zeroes unless told otherwise). */
  async greet(clientFlags = 3): Promise<{ magic: bigint; ihaveopt: bigint; flags: number }> {
    const g = await this.read(18);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(clientFlags, 0);
    this.write(c);
    return { magic: g.readBigUInt64BE(0), ihaveopt: g.readBigUInt64BE(8), flags: g.readUInt16BE(16) };
  }

  sendOption(option: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.write('IHAVEOPT', 0, 'latin1');
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  async optionReply(): Promise<OptionReply> {
    const h = await this.read(20);
    const length = h.readUInt32BE(16);
    return { magic: h.readBigUInt64BE(0), option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(length) };
  }

  /** NBD_OPT_GO (7) or NBD_OPT_INFO (6): every reply up to the final one. */
  async info(name: string, option = 7, infos: number[] = []): Promise<OptionReply[]> {
    const n = Buffer.from(name);
    const d = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
    d.writeUInt32BE(n.length, 0);
    n.copy(d, 4);
    d.writeUInt16BE(infos.length, 4 + n.length);
    infos.forEach((t, i) => d.writeUInt16BE(t, 6 + n.length + 2 * i));
    this.sendOption(option, d);
    const replies: OptionReply[] = [];
    for (;;) {
      const r = await this.optionReply();
      replies.push(r);
      if (r.type !== 3) return replies;
    }
  }

  /** Greets and enters transmission with NBD_OPT_GO; returns the export's size and transmission flags. */
  async open(name = ''): Promise<{ size: bigint; flags: number }> {
    await this.greet();
    const replies = await this.info(name);
    const last = replies.at(-1)!;
    if (last.type !== 1) throw new Error(`NBD_OPT_GO refused: type 0x${last.type.toString(16)} ${last.data.toString()}`);
    const exp = replies.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 0)!;
    return { size: exp.data.readBigUInt64BE(2), flags: exp.data.readUInt16BE(10) };
  }

  request(type: number, handle: bigint, offset: bigint | number, length: number, opts: { flags?: number; payload?: Buffer } = {}): void {
    const r = Buffer.alloc(28);
    r.writeUInt32BE(0x25609513, 0);
    r.writeUInt16BE(opts.flags ?? 0, 4);
    r.writeUInt16BE(type, 6);
    r.writeBigUInt64BE(handle, 8);
    r.writeBigUInt64BE(BigInt(offset), 16);
    r.writeUInt32BE(length, 24);
    if (type === 0) this.readLengths.set(handle, length);
    this.write(opts.payload ? Buffer.concat([r, opts.payload]) : r);
  }

  /** The next simple reply; a successful read's data is taken with it. */
  async reply(): Promise<SimpleReply> {
    const h = await this.read(16);
    const magic = h.readUInt32BE(0);
    const error = h.readUInt32BE(4);
    const handle = h.readBigUInt64BE(8);
    const length = this.readLengths.get(handle);
    this.readLengths.delete(handle);
    const data = error === 0 && length !== undefined ? await this.read(length) : Buffer.alloc(0);
    return { magic, error, handle, data };
  }

  async readAt(offset: number, length: number, handle = 1n): Promise<SimpleReply> {
    this.request(0, handle, offset, length);
    return this.reply();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
