// TarWriter: what it writes into a pipe is a tar GNU tar lists and extracts byte for byte (long names, sizes past ustar's octal field).

import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { memberHeader, TarWriter } from '../../src/export/tar-writer.js';

const work = mkdtempSync(join(tmpdir(), 'tar-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('TarWriter', () => {
  test('members written in pieces into tar -x come out whole, with their names, sizes, times and mode', async () => {
    const into = join(work, 'out');
    const tar = execa('sh', ['-c', 'mkdir -p "$1" && tar -x -C "$1"', 'untar', into], { stdin: 'pipe' });
    const writer = new TarWriter(tar.stdin!);
    const mtime = new Date('2026-11-30T12:34:56Z');
    const big = randomBytes(3 * 1024 * 1024 + 77);
    const longName = `${'a-rather-long-vm-file-name-'.repeat(6)}.vmdk`;
    await writer.begin({ name: 'disk-flat.vmdk', size: big.length, mtime });
    for (let at = 0; at < big.length; at += 40_000) await writer.body(big.subarray(at, at + 40_000));
    await writer.end();
    await writer.member({ name: longName, size: 5, mtime }, Buffer.from('hello'));
    await writer.member({ name: 'empty', size: 0, mtime }, Buffer.alloc(0));
    await writer.finish();
    tar.stdin!.end();
    await tar;
    expect(readFileSync(join(into, 'disk-flat.vmdk')).equals(big)).toBe(true);
    expect(readFileSync(join(into, longName), 'utf8')).toBe('hello');
    expect(statSync(join(into, 'empty')).size).toBe(0);
    expect(statSync(join(into, 'disk-flat.vmdk')).mtime.toISOString()).toBe(mtime.toISOString());
    expect((statSync(join(into, 'disk-flat.vmdk')).mode & 0o777).toString(8)).toBe('600');
  });

  test('a body of the wrong length is refused: a member never claims bytes it does not hold', async () => {
    const sink = createWriteStream(join(work, 'short.tar'));
    const writer = new TarWriter(sink);
    await writer.begin({ name: 'x', size: 10, mtime: new Date() });
    await writer.body(Buffer.alloc(4));
    await expect(writer.end()).rejects.toThrow(/4 of its 10 bytes/);
    expect(() => writer.body(Buffer.alloc(7))).toThrow(/more than its 10 bytes/);
    sink.end();
  });

  test('a size past 8 GiB - 1 (an 8 GiB disk) is listed by GNU tar with its exact size', async () => {
    const size = 8 * 1024 ** 3 + 5;
    const path = join(work, 'huge-header.tar');
    const sink = createWriteStream(path);
    sink.end(memberHeader({ name: 'huge-flat.vmdk', size, mtime: new Date() }));
    await new Promise((resolve) => sink.on('close', resolve));
    // Only the header is there: tar lists the member, then reports the archive cut short.
    const listed = await execa('tar', ['-tvf', path], { reject: false });
    expect(listed.stdout).toContain(String(size));
    expect(listed.stdout).toContain('huge-flat.vmdk');
  });
});
