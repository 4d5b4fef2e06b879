// The simulated host's POSIX utilities over a real Vfs (LUN image in a temp dir): streaming copies, hashes, listings, errors.

import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posixCommands } from '../../src/sim/posix/index.js';
import { runCommandLine } from '../../src/sim/shell/interp.js';
import { makeTempHost, MiB, patternBytes, runLine, type TempHost } from './shell-helpers.js';

const DS = '/vmfs/volumes/datastore1';
let host: TempHost;
const data = patternBytes(9 * MiB + 12345, 7);

beforeAll(() => {
  host = makeTempHost(128 * MiB);
  host.vfs.mkdir(`${DS}/vm`);
  host.vfs.writeFile(`${DS}/vm/disk-flat.vmdk`, data);
});
afterAll(() => host.cleanup());

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

describe('cat, dd and hashes on multi-MiB files', () => {
  it('cat streams the whole file byte for byte', async () => {
    const r = await runLine(host.vfs, `cat ${DS}/vm/disk-flat.vmdk`);
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(r.stdout.equals(data)).toBe(true);
  });

  it('cat writes chunks of at most 1 MiB and waits for the reader between them', async () => {
    const stdout = new PassThrough({ highWaterMark: 1024 });
    const sizes: number[] = [];
    let pending = 0;
    let maxPending = 0;
    const done = runCommandLine(`cat ${DS}/vm/disk-flat.vmdk`, {
      commands: posixCommands(), vfs: host.vfs, env: {}, stdin: Readable.from([]), stdout, stderr: new PassThrough(), signal: new AbortController().signal, session: 1,
    });
    stdout.on('data', (chunk: Buffer) => {
      sizes.push(chunk.length);
      pending++;
      maxPending = Math.max(maxPending, pending);
      stdout.pause();
      setTimeout(() => {
        pending--;
        stdout.resume();
      }, 1);
    });
    expect(await done).toBe(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MiB);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect(maxPending).toBe(1);
  });

  it('sha1sum and md5sum hash files and stdin in the "hash  name" format', async () => {
    const r = await runLine(host.vfs, `sha1sum ${DS}/vm/disk-flat.vmdk; md5sum ${DS}/vm/disk-flat.vmdk; cat ${DS}/vm/disk-flat.vmdk | sha1sum`);
    expect(r.out).toBe(`${sha1(data)}  ${DS}/vm/disk-flat.vmdk\n${md5(data)}  ${DS}/vm/disk-flat.vmdk\n${sha1(data)}  -\n`);
  });

  it('dd copies a range with bs/skip/count and prints the record summary', async () => {
    const r = await runLine(host.vfs, `dd if=${DS}/vm/disk-flat.vmdk bs=1M skip=2 count=3`);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(data.subarray(2 * MiB, 5 * MiB))).toBe(true);
    expect(r.err).toMatch(/^3\+0 records in\n3\+0 records out\n3145728 bytes \(3\.0MB\) copied, [\d.]+ seconds, [\d.]+[KMG]?B\/s\n$/);
  });

  it('dd counts a partial last record and reads to end of file without count', async () => {
    const r = await runLine(host.vfs, `dd if=${DS}/vm/disk-flat.vmdk bs=4k skip=2304 | wc -c`);
    expect(r.out).toBe(`${data.length - 2304 * 4096}\n`);
    expect(r.err).toMatch(/^3\+1 records in\n3\+1 records out\n/);
  });

  it('dd writes stdin to a file at seek= with conv=notrunc, and truncates without it', async () => {
    host.vfs.writeFile('/tmp/target', Buffer.alloc(8192, 0x61));
    const r = await runLine(host.vfs, 'dd of=/tmp/target bs=1k seek=2 conv=notrunc status=none', { stdin: Buffer.alloc(1024, 0x62) });
    expect(r.status).toBe(0);
    expect(r.err).toBe('');
    const after = host.vfs.readFile('/tmp/target');
    expect(after.length).toBe(8192);
    expect(after.subarray(2048, 3072).every((b) => b === 0x62)).toBe(true);
    expect(after.subarray(3072).every((b) => b === 0x61)).toBe(true);
    await runLine(host.vfs, 'dd of=/tmp/target bs=1k seek=1', { stdin: 'zz' });
    expect(host.vfs.readFile('/tmp/target').length).toBe(1026);
  });

  it('dd round-trips a multi-MiB file through a pipe onto a datastore', async () => {
    const r = await runLine(host.vfs, `cat ${DS}/vm/disk-flat.vmdk | dd of=${DS}/vm/copy.img bs=64k && sha1sum ${DS}/vm/copy.img`);
    expect(r.status).toBe(0);
    expect(r.out).toBe(`${sha1(data)}  ${DS}/vm/copy.img\n`);
    expect(r.err).toContain(`${Math.floor(data.length / 65536)}+1 records in`);
  });

  it('dd knows only the operands and flag words busybox dd knows', async () => {
    const src = `${DS}/vm/disk-flat.vmdk`;
    for (const [operand, key, word] of [
      ['iflag=direct', 'iflag', 'direct'],
      ['iflag=count_bytes', 'iflag', 'count_bytes'],
      ['iflag=skip_bytes,nocache', 'iflag', 'nocache'],
      ['conv=fdatasync', 'conv', 'fdatasync'],
      ['conv=sparse', 'conv', 'sparse'],
      ['status=progress', 'status', 'progress'],
    ] as const) {
      const r = await runLine(host.vfs, `dd if=${src} bs=512 count=1 ${operand}`);
      expect(r.status, operand).toBe(1);
      expect(r.stdout.length, operand).toBe(0);
      expect(r.err).toBe(`dd: invalid argument '${word}' to '${key}'\n`);
    }
    for (const operand of ['oflag=direct', 'oflag=append', 'cbs=512', 'foo']) {
      const r = await runLine(host.vfs, `dd if=${src} bs=512 count=1 ${operand}`);
      expect(r.status, operand).toBe(1);
      expect(r.stdout.length, operand).toBe(0);
      expect(r.err, operand).toMatch(/^Usage: dd /);
    }
    // The words busybox knows work: skip_bytes counts skip= in bytes, fullblock changes nothing for a file.
    const bytes = await runLine(host.vfs, `dd if=${src} bs=4096 skip=1000 count=2 iflag=skip_bytes,fullblock status=none`);
    expect(bytes.status).toBe(0);
    expect(bytes.stdout.equals(data.subarray(1000, 1000 + 8192))).toBe(true);
    const noxfer = await runLine(host.vfs, `dd if=${src} bs=1k count=1 status=noxfer conv=noerror,fsync`);
    expect(noxfer.err).toBe('1+0 records in\n1+0 records out\n');
  });

  it('dd reports bad operands and missing input', async () => {
    expect((await runLine(host.vfs, 'dd if=/tmp/nope')).err).toBe("dd: can't open '/tmp/nope': No such file or directory\n");
    expect((await runLine(host.vfs, 'dd bs=x')).err).toBe("dd: invalid number 'x'\n");
    expect((await runLine(host.vfs, 'dd foo')).status).toBe(1);
  });
});

describe('file operations and listings', () => {
  it('mkdir -p, touch, mv, cp, rm -r', async () => {
    const r = await runLine(host.vfs, 'mkdir -p /tmp/a/b/c && touch /tmp/a/b/c/f && mv /tmp/a/b/c/f /tmp/a/g && cp /tmp/a/g /tmp/a/b && ls /tmp/a /tmp/a/b && rm -r /tmp/a && ls /tmp/a');
    expect(r.out).toBe('/tmp/a:\nb\ng\n\n/tmp/a/b:\nc\ng\n');
    expect(r.err).toBe('ls: /tmp/a: No such file or directory\n');
    expect(r.status).toBe(1);
  });

  it('prints busybox error messages', async () => {
    host.vfs.mkdir('/tmp/e');
    const r = await runLine(host.vfs, 'cat /tmp/nofile; mkdir /tmp/e; rm /tmp/nofile; rm /tmp/e; rm -f /tmp/nofile; mv /tmp/nofile /tmp/x; cp /tmp/nofile /tmp/x; stat /tmp/nofile; head -c 1 /tmp/nofile');
    expect(r.err.split('\n')).toEqual([
      "cat: can't open '/tmp/nofile': No such file or directory",
      "mkdir: can't create directory '/tmp/e': File exists",
      "rm: can't remove '/tmp/nofile': No such file or directory",
      "rm: '/tmp/e' is a directory",
      "mv: can't rename '/tmp/nofile': No such file or directory",
      "cp: can't stat '/tmp/nofile': No such file or directory",
      "stat: can't stat '/tmp/nofile': No such file or directory",
      "head: can't open '/tmp/nofile': No such file or directory",
      '',
    ]);
  });

  it('ls -l prints the long format, ls -a shows dot entries', async () => {
    host.vfs.mkdir('/tmp/l');
    host.vfs.writeFile('/tmp/l/file.txt', 'hello');
    host.vfs.writeFile('/tmp/l/.hidden', '');
    const long = await runLine(host.vfs, 'ls -l /tmp/l');
    expect(long.out).toMatch(/^total \d+\n-rw-r--r-- +1 root +root +5 \w{3} [ \d]\d (\d\d:\d\d| \d{4}) file\.txt\n$/);
    const all = await runLine(host.vfs, 'ls -a1 /tmp/l');
    expect(all.out).toBe('.\n..\n.hidden\nfile.txt\n');
  });

  it('stat -c prints size, name, mtime and type', async () => {
    host.vfs.writeFile('/tmp/s', 'x'.repeat(1000));
    const r = await runLine(host.vfs, `stat -c '%s %n %F' /tmp/s; stat -c %F /tmp; stat -c %Y /tmp/s; stat /tmp/s`);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('1000 /tmp/s regular file');
    expect(lines[1]).toBe('directory');
    expect(Math.abs(Number(lines[2]) * 1000 - host.vfs.stat('/tmp/s')!.mtimeMs)).toBeLessThan(1000);
    expect(lines[3]).toBe("  File: '/tmp/s'");
    expect(lines[4]).toMatch(/^ {2}Size: 1000\s+Blocks: \d+\s+IO Block: 4096\s+regular file$/);
  });

  it('head -c, wc -c, wc -l', async () => {
    const r = await runLine(host.vfs, `head -c 100 ${DS}/vm/disk-flat.vmdk | wc -c; wc -c ${DS}/vm/disk-flat.vmdk; printf 'a\\nb\\n' | wc -l`);
    expect(r.out).toBe(`100\n${data.length} ${DS}/vm/disk-flat.vmdk\n2\n`);
  });
});

describe('host information', () => {
  it('df lists datastores in bytes and with -h', async () => {
    const ds = host.vfs.datastores()[0]!;
    const r = await runLine(host.vfs, 'df');
    const [header, row] = r.out.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['Filesystem', 'Bytes', 'Used', 'Available', 'Use%', 'Mounted', 'on']);
    const cells = row!.split(/\s+/);
    expect(cells).toEqual(['VMFS-5', String(ds.capacity), String(ds.capacity - ds.free), String(ds.free), expect.stringMatching(/^\d+%$/), `${DS}`]);
    const human = await runLine(host.vfs, 'df -h');
    expect(human.out.split('\n')[1]).toMatch(/^VMFS-5 +128\.0M +[\d.]+[KMG]? +[\d.]+[KMG]? +\d+% \/vmfs\/volumes\/datastore1$/);
  });

  it('uname and hostname', async () => {
    const r = await runLine(host.vfs, 'uname; uname -r; uname -a; hostname');
    expect(r.out).toBe('VMkernel\n6.7.0\nVMkernel esx-sim 6.7.0 #1 SMP Release build-8169922 Apr  3 2018 14:48:22 x86_64 x86_64 x86_64 ESXi\nesx-sim\n');
  });
});

describe('full datastore', () => {
  it('writes fail with No space left on device', async () => {
    host.vfs.setFull('datastore1', true);
    try {
      const dd = await runLine(host.vfs, `dd if=${DS}/vm/disk-flat.vmdk of=${DS}/vm/full.img bs=1M count=2`);
      expect(dd.status).toBe(1);
      expect(dd.err).toContain(`dd: error writing '${DS}/vm/full.img': No space left on device`);
      const cat = await runLine(host.vfs, `cat ${DS}/vm/disk-flat.vmdk > ${DS}/vm/full2.img`);
      expect(cat.status).toBe(1);
      expect(cat.err).toBe('cat: write error: No space left on device\n');
    } finally {
      host.vfs.setFull('datastore1', false);
    }
  });
});

describe('abort while streaming', () => {
  it('cat of a multi-GiB file stops promptly when the session ends', async () => {
    host.vfs.createFile(`${DS}/huge-flat.vmdk`, { size: 8 * 1024 * MiB, thin: true });
    const controller = new AbortController();
    const stdout = new PassThrough();
    let received = 0;
    stdout.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= 4 * MiB) controller.abort();
    });
    const status = await runCommandLine(`cat ${DS}/huge-flat.vmdk`, {
      commands: posixCommands(), vfs: host.vfs, env: {}, stdin: Readable.from([]), stdout, stderr: new PassThrough(), signal: controller.signal, session: 1,
    });
    expect(status).not.toBe(0);
    expect(received).toBeLessThan(16 * MiB);
  });
});
