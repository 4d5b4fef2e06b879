// The NBD server as a file through nbdfuse (the way a snapshot disk reaches the kernel): parallel and whole-file reads byte-exact, EIO where the source fails.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serveNbd, type NbdServer } from '../../src/nbd/index.js';
import { bufferSource, DISK_SIZE, pseudoRandom, tempDir, waitFor, type TestSource } from './support.js';

const BAD_START = 6 * 1024 * 1024;
const BAD_END = BAD_START + 4096;
/** Reads a file synchronously (whole with readFileSync, or backwards in odd-sized chunks) and prints its length and SHA-256. */
const READER = `
const fs = require('node:fs');
const [file, mode] = process.argv.slice(1);
let data;
if (mode === 'whole') data = fs.readFileSync(file);
else {
  const size = fs.statSync(file).size;
  data = Buffer.alloc(size);
  const fd = fs.openSync(file, 'r');
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - 65537);
    for (let at = start; at < end; ) {
      const n = fs.readSync(fd, data, at, end - at, at);
      if (n === 0) throw new Error('short read at ' + at);
      at += n;
    }
    end = start;
  }
}
console.log(JSON.stringify({ length: data.length, sha256: require('node:crypto').createHash('sha256').update(data).digest('hex') }));
`;
const canMount = process.getuid?.() === 0 && existsSync('/dev/fuse') && existsSync('/usr/bin/nbdfuse');

describe.skipIf(!canMount)('nbdfuse over the server', () => {
  const disk = pseudoRandom(DISK_SIZE, 4242);
  let tmp: ReturnType<typeof tempDir>;
  let server: NbdServer;
  let source: TestSource;
  let fuse: ResultPromise | undefined;
  let mnt: string;
  let file: string;
  let failing = false;

  beforeAll(async () => {
    tmp = tempDir('nbd-fuse-');
    mnt = join(tmp.dir, 'mnt');
    await execa('mkdir', [mnt]);
    file = join(mnt, 'disk');
    source = bufferSource(disk, {
      before(offset, length) {
        if (failing && offset < BAD_END && offset + length > BAD_START) throw new Error('unreadable sector');
      },
    });
    const socket = join(tmp.dir, 'nbd.sock');
    server = await serveNbd({ socketPath: socket, exports: source });
    const pidfile = join(tmp.dir, 'nbdfuse.pid');
    // nbdfuse stays in the foreground until unmounted; -P writes the pid file once the file is ready to read.
    fuse = execa('nbdfuse', ['-r', '-P', pidfile, file, '--unix', socket], { reject: false });
    let ready = false;
    const exitedEarly = fuse.then((r) => {
      if (!ready) throw new Error(`nbdfuse exited early (${r.exitCode}): ${r.stderr}`);
    });
    exitedEarly.catch(() => undefined);
    await Promise.race([waitFor(() => existsSync(pidfile), 5000, 'nbdfuse to be ready'), exitedEarly]);
    ready = true;
  });

  afterAll(async () => {
    if (fuse) {
      await execa('fusermount3', ['-u', mnt], { reject: false });
      const exited = await Promise.race([fuse.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
      if (!exited) {
        // Killing nbdfuse aborts the FUSE connection, so any read stuck on it fails instead of hanging.
        fuse.kill('SIGKILL');
        await execa('fusermount3', ['-uz', mnt], { reject: false });
      }
    }
    await server?.close();
    tmp?.remove();
  });

  it('three readers in parallel, at offsets of their own, read what the source holds', async () => {
    // On fresh opens, so the reads reach the server rather than the page cache.
    const before = source.calls.length;
    const reader = async (seed: number) => {
      const fh = await open(file, 'r');
      try {
        let x = seed;
        for (let i = 0; i < 40; i++) {
          x = (x * 1103515245 + 12345) % 2 ** 31;
          const offset = x % (DISK_SIZE - 70_000);
          const length = 1 + (x % 69_999);
          const buf = Buffer.alloc(length);
          const { bytesRead } = await fh.read(buf, 0, length, offset);
          expect(bytesRead).toBe(length);
          expect(buf.equals(disk.subarray(offset, offset + length))).toBe(true);
        }
      } finally {
        await fh.close();
      }
    };
    await Promise.all([reader(1), reader(2), reader(3)]);
    expect(source.calls.length).toBeGreaterThan(before);
  });

  it('fs.readFileSync of the whole file, and a reader going backwards at the same time, each get it byte for byte', async () => {
    // Synchronous reads run in other processes: in this one they would block the event loop the server needs to answer them.
    const before = source.calls.length;
    const [whole, backwards] = await Promise.all([execa('node', ['-e', READER, file, 'whole']), execa('node', ['-e', READER, file, 'backwards'])]);
    const want = { length: DISK_SIZE, sha256: createHash('sha256').update(disk).digest('hex') };
    expect(JSON.parse(whole.stdout)).toEqual(want);
    expect(JSON.parse(backwards.stdout)).toEqual(want);
    expect(source.calls.length).toBeGreaterThan(before);
  });

  it('gives EIO where the source fails while the rest reads on, and reads whole again once the source recovers', async () => {
    failing = true;
    try {
      const fh = await open(file, 'r');
      try {
        const head = Buffer.alloc(BAD_START);
        expect((await fh.read(head, 0, BAD_START, 0)).bytesRead).toBe(BAD_START);
        expect(head.equals(disk.subarray(0, BAD_START))).toBe(true);
        await expect(fh.read(Buffer.alloc(512), 0, 512, BAD_START + 512)).rejects.toMatchObject({ code: 'EIO' });
        const tail = Buffer.alloc(DISK_SIZE - BAD_END);
        expect((await fh.read(tail, 0, tail.length, BAD_END)).bytesRead).toBe(tail.length);
        expect(tail.equals(disk.subarray(BAD_END))).toBe(true);
        // Past the end: nothing, not an error.
        expect((await fh.read(Buffer.alloc(10), 0, 10, DISK_SIZE)).bytesRead).toBe(0);
      } finally {
        await fh.close();
      }
      await expect(readFile(file)).rejects.toMatchObject({ code: 'EIO' });
    } finally {
      failing = false;
    }
    expect((await readFile(file)).equals(disk)).toBe(true);
  });

  it('is read-only', async () => {
    await expect(open(file, 'r+')).rejects.toMatchObject({ code: expect.stringMatching(/^(EACCES|EROFS|EPERM)$/) });
  });
});
