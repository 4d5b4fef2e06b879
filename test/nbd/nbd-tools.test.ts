// The NBD server against libnbd's own programs (nbdinfo, nbdcopy): sizes, byte-exact copies, named exports, failed reads, refused writes, a killed client.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../src/log.js';
import { serveNbd, type NbdServer } from '../../src/nbd/index.js';
import { RawClient } from './raw-client.js';
import { bufferSource, captureLog, DISK_SIZE, nbdUri, pseudoRandom, tempDir, waitFor } from './support.js';

const disk = pseudoRandom(DISK_SIZE);
const other = pseudoRandom(3 * 65536 + 17, 12345);
let tmp: ReturnType<typeof tempDir>;
const servers: NbdServer[] = [];

beforeAll(() => {
  tmp = tempDir('nbd-tools-');
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => tmp.remove());

async function serve(name: string, exports: Parameters<typeof serveNbd>[0]['exports'], log?: Logger) {
  const socketPath = join(tmp.dir, name);
  const server = await serveNbd({ socketPath, exports, log });
  servers.push(server);
  return { server, socketPath };
}

describe('nbdinfo and nbdcopy', () => {
  it('nbdinfo reports the size and read-only; nbdcopy copies the disk byte for byte', async () => {
    const source = bufferSource(disk);
    const { socketPath } = await serve('plain.sock', source);

    const info = await execa('nbdinfo', ['--json', nbdUri(socketPath)]);
    const exp = (JSON.parse(info.stdout) as { exports: Record<string, unknown>[] }).exports[0]!;
    expect(exp['export-size']).toBe(DISK_SIZE);
    expect(exp['is_read_only']).toBe(true);
    expect(exp['can_multi_conn']).toBe(true);
    expect(exp['can_trim']).toBe(false);

    const out = join(tmp.dir, 'plain.raw');
    await execa('nbdcopy', [nbdUri(socketPath), out]);
    const copy = readFileSync(out);
    expect(copy.length).toBe(DISK_SIZE);
    expect(copy.equals(disk)).toBe(true);
    // The odd tail came through a read that ends exactly at the export's end.
    expect(source.calls.some(([o, l]) => o + l === DISK_SIZE)).toBe(true);
  });

  it('serves named exports from a Map and refuses names it does not have', async () => {
    const { socketPath } = await serve('named.sock', new Map([['disk-0', bufferSource(disk)], ['disk-1', bufferSource(other)]]));

    const list = await execa('nbdinfo', ['--list', '--json', nbdUri(socketPath)]);
    const names = (JSON.parse(list.stdout) as { exports: { 'export-name': string; 'export-size': number }[] }).exports.map((e) => [e['export-name'], e['export-size']]);
    expect(names).toEqual([
      ['disk-0', DISK_SIZE],
      ['disk-1', other.length],
    ]);

    const out1 = join(tmp.dir, 'named-1.raw');
    await execa('nbdcopy', [nbdUri(socketPath, 'disk-1'), out1]);
    expect(readFileSync(out1).equals(other)).toBe(true);

    const unknown = await execa('nbdinfo', [nbdUri(socketPath, 'disk-9')], { reject: false });
    expect(unknown.exitCode).not.toBe(0);
    expect(unknown.stderr).toMatch(/opt_go/);
    // The default export (the empty name) does not exist when exports is a Map without it.
    const unnamed = await execa('nbdcopy', [nbdUri(socketPath), join(tmp.dir, 'unnamed.raw')], { reject: false });
    expect(unnamed.exitCode).not.toBe(0);
  });

  it('refuses writes: nbdcopy into the export fails and the disk is unchanged', async () => {
    const data = Buffer.from(disk);
    const { socketPath } = await serve('write.sock', bufferSource(data));
    const input = join(tmp.dir, 'zeros.raw');
    await execa('truncate', ['-s', String(DISK_SIZE), input]);
    const r = await execa('nbdcopy', [input, nbdUri(socketPath)], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/read-only/);
    expect(data.equals(disk)).toBe(true);
  });
});

describe('a read that fails', () => {
  const BAD_START = 5 * 65536;
  const BAD_END = BAD_START + 4096;

  it('fails nbdcopy with EIO, logs once, and leaves other ranges readable through the same server', async () => {
    const source = bufferSource(disk, {
      before(offset, length) {
        if (offset < BAD_END && offset + length > BAD_START) throw new Error('medium error at 0x50000');
      },
    });
    const { log, lines } = captureLog();
    const { server, socketPath } = await serve('bad.sock', source, log);

    const r = await execa('nbdcopy', [nbdUri(socketPath), join(tmp.dir, 'bad.raw')], { reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);

    // The same server, a new connection: the bad range gets EIO (5) and the connection stays up for the next reads.
    const c = await RawClient.connect(socketPath);
    await c.open();
    const bad = await c.readAt(BAD_START, 4096, 7n);
    expect(bad.error).toBe(5);
    expect(bad.handle).toBe(7n);
    const before = await c.readAt(BAD_START - 65536, 65536, 8n);
    expect(before.error).toBe(0);
    expect(before.data.equals(disk.subarray(BAD_START - 65536, BAD_START))).toBe(true);
    const after = await c.readAt(BAD_END, 100_000, 9n);
    expect(after.error).toBe(0);
    expect(after.data.equals(disk.subarray(BAD_END, BAD_END + 100_000))).toBe(true);
    const again = await c.readAt(BAD_START + 100, 10, 10n);
    expect(again.error).toBe(5);
    c.destroy();

    // nbdcopy and the raw client hit the bad range more than once; the message is logged once.
    const failures = lines.filter((l) => l.msg.startsWith('NBD read failed'));
    expect(failures).toHaveLength(1);
    expect(failures[0]!.err?.message).toBe('medium error at 0x50000');
    expect(failures[0]!.level).toBe(50);

    const info = await execa('nbdinfo', ['--size', nbdUri(socketPath)]);
    expect(info.stdout.trim()).toBe(String(DISK_SIZE));
    await waitFor(() => server.connections === 0, 2000, 'connections to close');
  });
});

describe('a client that goes away mid-transfer', () => {
  it('leaves the server serving the next client byte for byte', async () => {
    let slow = true;
    let started = 0;
    const source = bufferSource(disk, {
      async before() {
        started++;
        // Reads finish after the client is gone: their replies must be dropped, not written to a closed socket.
        if (slow) await new Promise((r) => setTimeout(r, 200));
      },
    });
    const { log, lines } = captureLog();
    const { server, socketPath } = await serve('kill.sock', source, log);

    const victim = execa('nbdcopy', [nbdUri(socketPath), join(tmp.dir, 'victim.raw')], { reject: false });
    await waitFor(() => started >= 4, 5000, 'nbdcopy to start reading');
    expect(server.connections).toBeGreaterThan(0);
    victim.kill('SIGKILL');
    const killed = await victim;
    expect(killed.signal).toBe('SIGKILL');
    await waitFor(() => server.connections === 0, 3000, 'the killed client to be dropped');
    // Let the slow reads settle against the closed connections.
    await new Promise((r) => setTimeout(r, 250));
    slow = false;

    const out = join(tmp.dir, 'after-kill.raw');
    await execa('nbdcopy', [nbdUri(socketPath), out]);
    expect(readFileSync(out).equals(disk)).toBe(true);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});
