// The NBD server byte by byte, from a client written in the test: handshake, option replies, error replies, concurrent and refused requests, the socket file.

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { execa } from 'execa';
import { createServer, Socket } from 'node:net';
import { lstatSync, existsSync, mkdirSync, readdirSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../src/log.js';
import { serveNbd, type BlockSource, type NbdServer } from '../../src/nbd/index.js';
import { RawClient } from './raw-client.js';
import { bufferSource, captureLog, DISK_SIZE, pseudoRandom, tempDir, waitFor } from './support.js';

const disk = pseudoRandom(DISK_SIZE);
let tmp: ReturnType<typeof tempDir>;
const servers: NbdServer[] = [];
const clients: RawClient[] = [];
let n = 0;

beforeAll(() => {
  tmp = tempDir('nbd-wire-');
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => tmp.remove());

async function serve(opts: { exports?: Parameters<typeof serveNbd>[0]['exports']; maxRequestBytes?: number; log?: Logger } = {}) {
  const socketPath = join(tmp.dir, `s${n++}.sock`);
  const server = await serveNbd({ socketPath, exports: opts.exports ?? bufferSource(disk), maxRequestBytes: opts.maxRequestBytes, log: opts.log });
  servers.push(server);
  return { server, socketPath };
}

async function connect(socketPath: string): Promise<RawClient> {
  const c = await RawClient.connect(socketPath);
  clients.push(c);
  return c;
}

const ERR_UNSUP = 0x80000001;
const ERR_INVALID = 0x80000003;
const ERR_UNKNOWN = 0x80000006;

describe('handshake', () => {
  it('greets with NBDMAGIC, IHAVEOPT and FIXED_NEWSTYLE|NO_ZEROES', async () => {
    const { socketPath } = await serve();
    const c = await connect(socketPath);
    const g = await c.greet();
    expect(g.magic).toBe(0x4e42444d41474943n);
    expect(g.ihaveopt).toBe(0x49484156454f5054n);
    expect(g.flags).toBe(3);
  });

  it('answers STARTTLS, STRUCTURED_REPLY, the meta-context options and unknown options with ERR_UNSUP, then still lets the client in', async () => {
    const { socketPath } = await serve();
    const c = await connect(socketPath);
    await c.greet();
    for (const option of [5, 8, 9, 10, 11, 4242]) {
      c.sendOption(option, option === 10 ? Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]) : undefined);
      const r = await c.optionReply();
      expect(r.magic).toBe(0x3e889045565a9n);
      expect(r.option).toBe(option);
      expect(r.type).toBe(ERR_UNSUP);
    }
    const replies = await c.info('');
    expect(replies.at(-1)!.type).toBe(1);
    const r = await c.readAt(4096, 512);
    expect(r.data.equals(disk.subarray(4096, 4608))).toBe(true);
  });

  it('NBD_OPT_INFO and NBD_OPT_GO report size, flags HAS_FLAGS|READ_ONLY|CAN_MULTI_CONN and block sizes; unknown names get ERR_UNKNOWN', async () => {
    const small = pseudoRandom(1000, 7);
    const { socketPath } = await serve({ exports: new Map([['a', bufferSource(disk)], ['b', bufferSource(small)]]), maxRequestBytes: 1 << 20 });
    const c = await connect(socketPath);
    await c.greet();

    const unknown = await c.info('c', 6);
    expect(unknown.map((r) => r.type)).toEqual([ERR_UNKNOWN]);
    expect(unknown[0]!.data.toString()).toMatch(/"c"/);

    const info = await c.info('b', 6, [3]);
    expect(info.at(-1)!.type).toBe(1);
    expect(info.every((r) => r.option === 6)).toBe(true);
    const exp = info.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 0)!;
    expect(exp.data.length).toBe(12);
    expect(exp.data.readBigUInt64BE(2)).toBe(1000n);
    expect(exp.data.readUInt16BE(10)).toBe(0x0103);
    const bs = info.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 3)!;
    expect(bs.data.length).toBe(14);
    expect([bs.data.readUInt32BE(2), bs.data.readUInt32BE(6), bs.data.readUInt32BE(10)]).toEqual([1, 4096, 1 << 20]);

    // NBD_OPT_INFO did not end negotiation: GO on the other export does.
    const go = await c.info('a', 7);
    expect(go.at(-1)!.type).toBe(1);
    expect(go.find((r) => r.type === 3 && r.data.readUInt16BE(0) === 0)!.data.readBigUInt64BE(2)).toBe(BigInt(DISK_SIZE));
    const r = await c.readAt(DISK_SIZE - 10, 10);
    expect(r.data.equals(disk.subarray(DISK_SIZE - 10))).toBe(true);
  });

  it('lists exports with NBD_OPT_LIST, refuses malformed options with ERR_INVALID, and acknowledges NBD_OPT_ABORT before closing', async () => {
    const { socketPath } = await serve({ exports: new Map([['x', bufferSource(disk)], ['yy', bufferSource(disk)]]) });
    const c = await connect(socketPath);
    await c.greet();
    c.sendOption(3);
    const names: string[] = [];
    for (;;) {
      const r = await c.optionReply();
      if (r.type !== 2) {
        expect(r.type).toBe(1);
        break;
      }
      names.push(r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)));
    }
    expect(names).toEqual(['x', 'yy']);

    c.sendOption(3, Buffer.from('junk'));
    expect((await c.optionReply()).type).toBe(ERR_INVALID);
    // A name length that runs past the option's data.
    c.sendOption(7, Buffer.from([0, 0, 0, 99, 0, 0]));
    expect((await c.optionReply()).type).toBe(ERR_INVALID);

    c.sendOption(2);
    const ack = await c.optionReply();
    expect([ack.option, ack.type]).toEqual([2, 1]);
    expect(await c.closedWithin(2000)).toBe(true);
  });

  it('NBD_OPT_EXPORT_NAME: 124 zeroes unless NO_ZEROES was agreed; an unknown name closes the connection', async () => {
    const { socketPath } = await serve({ exports: new Map([['d', bufferSource(disk)]]) });

    for (const [clientFlags, replyLength] of [
      [3, 10],
      [1, 134],
    ] as const) {
      const c = await connect(socketPath);
      await c.greet(clientFlags);
      c.sendOption(1, Buffer.from('d'));
      const r = await c.read(replyLength);
      expect(r.readBigUInt64BE(0)).toBe(BigInt(DISK_SIZE));
      expect(r.readUInt16BE(8)).toBe(0x0103);
      expect(r.subarray(10).every((b) => b === 0)).toBe(true);
      // The next bytes are a read's reply, not more padding.
      const read = await c.readAt(123, 45);
      expect(read.magic).toBe(0x67446698);
      expect(read.data.equals(disk.subarray(123, 168))).toBe(true);
    }

    const bad = await connect(socketPath);
    await bad.greet();
    bad.sendOption(1, Buffer.from('nope'));
    expect(await bad.closedWithin(2000)).toBe(true);
  });

  it('drops a client that sends unknown client flags or a bad option magic', async () => {
    const { socketPath } = await serve();
    const c = await connect(socketPath);
    await c.greet(0x10);
    expect(await c.closedWithin(2000)).toBe(true);

    const d = await connect(socketPath);
    await d.greet();
    d.write(Buffer.alloc(16));
    expect(await d.closedWithin(2000)).toBe(true);
  });
});

describe('transmission', () => {
  it('answers writes, trims and write-zeroes with EPERM, unknown commands with EINVAL, and stays in step', async () => {
    const data = Buffer.from(disk);
    const { socketPath } = await serve({ exports: bufferSource(data) });
    const c = await connect(socketPath);
    await c.open();

    c.request(1, 11n, 0, 70_000, { payload: Buffer.alloc(70_000, 0xee) });
    c.request(4, 12n, 0, 4096);
    c.request(6, 13n, 0, 4096);
    c.request(42, 14n, 0, 0);
    c.request(5, 15n, 0, 4096);
    c.request(3, 16n, 0, 0);
    const got = new Map<bigint, number>();
    for (let i = 0; i < 6; i++) {
      const r = await c.reply();
      expect(r.magic).toBe(0x67446698);
      got.set(r.handle, r.error);
    }
    expect(Object.fromEntries([...got].map(([h, e]) => [String(h), e]))).toEqual({ '11': 1, '12': 1, '13': 1, '14': 22, '15': 22, '16': 0 });
    // The write's payload was taken off the stream: the next request is read as a request.
    const r = await c.readAt(0, 4096, 17n);
    expect([r.handle, r.error]).toEqual([17n, 0]);
    expect(r.data.equals(disk.subarray(0, 4096))).toBe(true);
    expect(data.equals(disk)).toBe(true);
  });

  it('answers reads past the end, larger than maxRequestBytes, or with unoffered flags with EINVAL', async () => {
    const { socketPath } = await serve({ maxRequestBytes: 65536 });
    const c = await connect(socketPath);
    await c.open();
    expect((await c.readAt(DISK_SIZE - 100, 101)).error).toBe(22);
    expect((await c.readAt(DISK_SIZE + 1, 0)).error).toBe(22);
    c.request(0, 2n, 1n << 63n, 1);
    expect((await c.reply()).error).toBe(22);
    expect((await c.readAt(0, 65537)).error).toBe(22);
    c.request(0, 3n, 0, 512, { flags: 4 }); // NBD_CMD_FLAG_DF: only with structured replies, never offered
    expect((await c.reply()).error).toBe(22);
    const edge = await c.readAt(DISK_SIZE - 65536, 65536);
    expect(edge.error).toBe(0);
    expect(edge.data.equals(disk.subarray(DISK_SIZE - 65536))).toBe(true);
    const empty = await c.readAt(DISK_SIZE, 0);
    expect([empty.error, empty.data.length]).toEqual([0, 0]);
  });

  it('serves pipelined reads concurrently; replies finishing out of order are each whole', async () => {
    const source = bufferSource(disk, {
      // Later requests finish first, some together.
      before: (offset) => new Promise((r) => setTimeout(r, 60 - ((offset >> 18) % 6) * 10)),
    });
    const { socketPath } = await serve({ exports: source });
    const c = await connect(socketPath);
    await c.open();
    const want = new Map<bigint, [number, number]>();
    for (let i = 0; i < 24; i++) {
      const offset = i * 262144 + (i % 3) * 511;
      const length = 200_000 + i * 1000;
      want.set(BigInt(i + 100), [offset, length]);
      c.request(0, BigInt(i + 100), offset, length);
    }
    const order: bigint[] = [];
    for (let i = 0; i < 24; i++) {
      const r = await c.reply();
      expect(r.magic).toBe(0x67446698);
      expect(r.error).toBe(0);
      const [offset, length] = want.get(r.handle)!;
      expect(r.data.equals(disk.subarray(offset, offset + length))).toBe(true);
      order.push(r.handle);
    }
    expect(new Set(order).size).toBe(24);
    // Handled side by side: replies did not come back in request order.
    expect(order).not.toEqual([...want.keys()]);
  });

  it('stops taking requests while the client does not read its replies (backpressure)', async () => {
    const source = bufferSource(disk);
    const { socketPath } = await serve({ exports: source });
    const c = await connect(socketPath);
    await c.open();
    c.socket.pause();
    const chunk = 512 * 1024;
    for (let i = 0; i < 24; i++) c.request(0, BigInt(i), (i % 16) * chunk, chunk);
    await new Promise((r) => setTimeout(r, 150));
    // A few reads whose replies fill the socket; without backpressure, all 24 (each freed slot takes the next).
    const whilePaused = source.calls.length;
    expect(whilePaused).toBeGreaterThan(0);
    expect(whilePaused).toBeLessThanOrEqual(12);
    c.socket.resume();
    for (let i = 0; i < 24; i++) {
      const r = await c.reply();
      const off = Number(r.handle % 16n) * chunk;
      expect(r.data.equals(disk.subarray(off, off + chunk))).toBe(true);
    }
    expect(source.calls.length).toBe(24);
  });

  it('NBD_CMD_DISC: replies to reads already asked for, then closes', async () => {
    const source = bufferSource(disk, { before: () => new Promise((r) => setTimeout(r, 100)) });
    const { socketPath } = await serve({ exports: source });
    const c = await connect(socketPath);
    await c.open();
    c.request(0, 1n, 8192, 8192);
    c.request(2, 2n, 0, 0);
    const r = await c.reply();
    expect([r.handle, r.error]).toEqual([1n, 0]);
    expect(r.data.equals(disk.subarray(8192, 16384))).toBe(true);
    expect(await c.closedWithin(2000)).toBe(true);
  });

  it('drops a connection whose request magic is wrong, and says why', async () => {
    const { log, lines } = captureLog();
    const { socketPath } = await serve({ log });
    const c = await connect(socketPath);
    await c.open();
    c.write(Buffer.alloc(28, 1));
    expect(await c.closedWithin(2000)).toBe(true);
    expect(lines.some((l) => l.level === 40 && String(l['reason']).includes('request magic'))).toBe(true);
  });
});

describe('failing sources', () => {
  it('a short buffer, a synchronous throw and a rejection each give EIO; each distinct message is logged once', async () => {
    const source: BlockSource = {
      size: DISK_SIZE,
      readAt(offset, length) {
        if (offset === 0) return Promise.resolve(Buffer.alloc(length - 1));
        if (offset === 4096) throw new Error('thrown, not rejected');
        if (offset === 8192) return Promise.reject(new Error('rejected'));
        return Promise.resolve(Buffer.from(disk.subarray(offset, offset + length)));
      },
    };
    const { log, lines } = captureLog();
    const { socketPath } = await serve({ exports: source, log });
    const c = await connect(socketPath);
    await c.open();
    for (let round = 0; round < 3; round++) {
      for (const offset of [0, 4096, 8192]) expect((await c.readAt(offset, 512)).error).toBe(5);
      const ok = await c.readAt(12288, 512);
      expect([ok.error, ok.data.equals(disk.subarray(12288, 12800))]).toEqual([0, true]);
    }
    const messages = lines.filter((l) => l.msg.startsWith('NBD read failed')).map((l) => l.err?.message);
    expect(messages).toEqual(['readAt(0, 512) returned 511 bytes', 'thrown, not rejected', 'rejected']);
  });

  it('a client that hangs up mid-request: the read is aborted, nothing is written to the closed socket, the server serves on', async () => {
    const signals: AbortSignal[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const source = bufferSource(disk, {
      async before(offset, _length, signal) {
        if (offset !== 0) return;
        signals.push(signal!);
        await held;
      },
    });
    const { log, lines } = captureLog();
    const { server, socketPath } = await serve({ exports: source, log });
    // Counts writes to destroyed sockets (Node drops them silently, so only a spy can see them).
    let writesAfterClose = 0;
    const realWrite = Socket.prototype.write;
    const spy = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: unknown[]) {
      if (this.destroyed) writesAfterClose++;
      return (realWrite as (...a: unknown[]) => boolean).apply(this, args);
    });
    try {
      const c = await connect(socketPath);
      await c.open();
      c.request(0, 1n, 0, 1 << 20);
      await waitFor(() => signals.length === 1, 2000, 'the read to start');
      c.destroy();
      await waitFor(() => signals[0]!.aborted, 2000, 'the read to be aborted');
      await waitFor(() => server.connections === 0, 2000, 'the connection to close');
    } finally {
      // The source finishes anyway (it ignored the signal): its reply has nowhere to go.
      release();
    }
    await new Promise((r) => setTimeout(r, 50));
    spy.mockRestore();
    expect(writesAfterClose).toBe(0);

    const d = await connect(socketPath);
    await d.open();
    const r = await d.readAt(65536, 4096);
    expect(r.data.equals(disk.subarray(65536, 69632))).toBe(true);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});

describe('the socket file', () => {
  it('is mode 0600, and close() removes it (twice is fine)', async () => {
    const { server, socketPath } = await serve();
    const st = lstatSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(server.connections).toBe(0);
    await server.close();
    await server.close();
    expect(existsSync(socketPath)).toBe(false);
    // No temporary binding directory is left beside it.
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('.nbd'))).toEqual([]);
  });

  it('refuses a path too long for a Unix socket instead of binding a truncated one', async () => {
    const long = join(tmp.dir, 'x'.repeat(120 - tmp.dir.length));
    await expect(serveNbd({ socketPath: long, exports: bufferSource(disk) })).rejects.toThrow(/at most 107/);
    // Fits, but the temporary name it is bound under first, in the same long directory, does not.
    const deep = join(tmp.dir, 'y'.repeat(100 - tmp.dir.length - 1));
    mkdirSync(deep);
    const tight = join(deep, 'a.sock');
    expect(Buffer.byteLength(tight)).toBe(107);
    await expect(serveNbd({ socketPath: tight, exports: bufferSource(disk) })).rejects.toThrow(/shorter directory/);
    expect(readdirSync(deep)).toEqual([]);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('.nbd') || f.startsWith('x'))).toEqual([]);
  });

  it('replaces a stale socket nobody listens on, refuses a live one, and never touches a file that is not a socket', async () => {
    const stale = join(tmp.dir, 'stale.sock');
    // A socket whose server was killed: the file stays (nothing ran to remove it), connecting is refused.
    const killed = await execa('node', ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`], { reject: false });
    expect(killed.signal).toBe('SIGKILL');
    expect(lstatSync(stale).isSocket()).toBe(true);
    const s = await serveNbd({ socketPath: stale, exports: bufferSource(disk) });
    servers.push(s);
    const c = await connect(stale);
    await c.open();
    expect((await c.readAt(4096, 4096)).data.equals(disk.subarray(4096, 8192))).toBe(true);

    // Live: ours, and someone else's.
    await expect(serveNbd({ socketPath: stale, exports: bufferSource(disk) })).rejects.toThrow(/another server is listening/);
    const foreign = join(tmp.dir, 'foreign.sock');
    const other = createServer(() => undefined);
    await new Promise<void>((r) => other.listen(foreign, r));
    try {
      await expect(serveNbd({ socketPath: foreign, exports: bufferSource(disk) })).rejects.toThrow(/another server is listening/);
      expect(lstatSync(foreign).isSocket()).toBe(true);
    } finally {
      await new Promise((r) => other.close(r));
    }

    const plain = join(tmp.dir, 'plain-file');
    writeFileSync(plain, 'keep me');
    await expect(serveNbd({ socketPath: plain, exports: bufferSource(disk) })).rejects.toThrow(/not a socket/);
    expect(readFileSync(plain, 'utf8')).toBe('keep me');
    expect(statSync(plain).isFile()).toBe(true);
  });
});
