// The simulated shell's interpreter: lists, pipes, redirections through the Vfs, builtins, exit statuses, the command log.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandImpl } from '../../src/sim/shell/types.js';
import { posixCommands } from '../../src/sim/posix/index.js';
import { writeChunk } from '../../src/sim/posix/streams.js';
import { makeTempHost, runLine, type TempHost } from './shell-helpers.js';

let host: TempHost;
beforeAll(() => {
  host = makeTempHost(64 * 1024 * 1024);
});
afterAll(() => host.cleanup());

describe('lists and exit statuses', () => {
  it('runs ; && || with short-circuit and $?', async () => {
    const r = await runLine(host.vfs, 'false && echo no; echo after $?; true || echo no2; false || echo yes; true && echo both');
    expect(r.out).toBe('after 1\nyes\nboth\n');
    expect(r.records.map((x) => x.argv[0])).toEqual(['false', 'echo', 'true', 'false', 'echo', 'true', 'echo']);
  });

  it('runs a command ended by & without waiting for it, with status 0, and ends the line only once it is done', async () => {
    const r = await runLine(host.vfs, 'sleep 0.2 & echo now $?; echo after');
    expect(r.status).toBe(0);
    expect(r.out).toBe('now 0\nafter\n');
    // sleep's record is written when it ends: the line waited for it before returning.
    expect(r.records.map((x) => x.argv[0]).sort()).toEqual(['echo', 'echo', 'sleep']);
  });

  it('runs an injected command whatever joins it to the line, as sh would: ; && || | & $() and backticks', async () => {
    const lines = [
      'echo a; touch /tmp/inj-semi',
      'true && touch /tmp/inj-and',
      'false || touch /tmp/inj-or',
      'echo a | touch /tmp/inj-pipe',
      'echo a & touch /tmp/inj-amp',
      'echo $(touch /tmp/inj-dollar)',
      'echo `touch /tmp/inj-tick`',
    ];
    for (const line of lines) await runLine(host.vfs, line);
    for (const name of ['semi', 'and', 'or', 'pipe', 'amp', 'dollar', 'tick']) {
      expect(host.vfs.stat(`/tmp/inj-${name}`), name).toBeDefined();
    }
  });

  it('returns the status of the last command and 127 with a message for unknown commands', async () => {
    const r = await runLine(host.vfs, 'echo hi; no-such-cmd --flag');
    expect(r.status).toBe(127);
    expect(r.err).toBe('sh: no-such-cmd: not found\n');
    expect(r.records[1]).toMatchObject({ argv: ['no-such-cmd', '--flag'], exitCode: 127, session: 1 });
  });

  it('exit stops the line with its status', async () => {
    const r = await runLine(host.vfs, 'echo one; exit 3; echo two');
    expect(r.status).toBe(3);
    expect(r.out).toBe('one\n');
  });

  it('finds commands by the basename of argv[0]', async () => {
    const r = await runLine(host.vfs, '/bin/echo via-path && /usr/bin/uname -r');
    expect(r.out).toBe('via-path\n6.7.0\n');
  });

  it('never runs a command hidden in a quoted hostile argument', async () => {
    const r = await runLine(host.vfs, `echo 'x; touch /tmp/p' "\\$(touch /tmp/q)" 'a && touch /tmp/r'`);
    expect(r.out).toBe('x; touch /tmp/p $(touch /tmp/q) a && touch /tmp/r\n');
    expect(r.records.map((x) => x.argv)).toEqual([['echo', 'x; touch /tmp/p', '$(touch /tmp/q)', 'a && touch /tmp/r']]);
    expect(host.vfs.stat('/tmp/p')).toBeUndefined();
    expect(host.vfs.stat('/tmp/q')).toBeUndefined();
  });

  it('applies NAME=value prefixes and assignments; builtins cd, pwd, test and [', async () => {
    const r = await runLine(host.vfs, 'X=1; export Y=2; mkdir -p /tmp/d1; cd /tmp/d1; pwd; echo $X$Y; [ -d /tmp/d1 ] && echo dir; test -f /tmp/d1 || echo notfile; [ 3 -gt 2 ] && echo gt; test a = b; echo $?');
    expect(r.out).toBe('/tmp/d1\n12\ndir\nnotfile\ngt\n1\n');
    const cdFail = await runLine(host.vfs, 'cd /nowhere');
    expect(cdFail.status).toBe(2);
    expect(cdFail.err).toBe("sh: cd: can't cd to /nowhere: No such file or directory\n");
  });

  it('printf formats %s %d and reuses the format', async () => {
    const r = await runLine(host.vfs, `printf '%s=%d\\n' a 1 b 2; printf '%5s|%-3d|%%\\n' x 7`);
    expect(r.out).toBe('a=1\nb=2\n    x|7  |%\n');
  });
});

describe('pipelines', () => {
  it('connects stdout to stdin across several commands', async () => {
    host.vfs.writeFile('/tmp/lines', 'one\ntwo\nthree\n');
    const r = await runLine(host.vfs, 'cat /tmp/lines | head -n 2 | wc -l');
    expect(r.out).toBe('2\n');
    expect(r.status).toBe(0);
  });

  it('stops the writer when the reader exits early (like SIGPIPE) instead of buffering everything', async () => {
    host.vfs.createFile('/vmfs/volumes/datastore1/big', { size: 32 * 1024 * 1024, thin: true });
    const r = await runLine(host.vfs, 'cat /vmfs/volumes/datastore1/big | head -c 10 | wc -c');
    expect(r.out).toBe('10\n');
    expect(r.records.find((x) => x.argv[0] === 'cat')!.exitCode).not.toBe(0);
  });

  it('pipes with backpressure: a slow reader limits how far the writer gets', async () => {
    const written: number[] = [];
    let consumed = 0;
    const producer: CommandImpl = async (io) => {
      for (let i = 0; i < 64; i++) {
        await writeChunk(io.stdout, Buffer.alloc(64 * 1024, i), io.signal);
        written.push(consumed);
      }
      return 0;
    };
    const slowConsumer: CommandImpl = async (io) => {
      for await (const chunk of io.stdin) {
        consumed += (chunk as Buffer).length;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writeChunk(io.stdout, `${consumed}\n`, io.signal);
      return 0;
    };
    const commands = new Map([...posixCommands(), ['producer', producer], ['consumer', slowConsumer]]);
    const r = await runLine(host.vfs, 'producer | consumer', { commands });
    expect(r.out).toBe(`${64 * 64 * 1024}\n`);
    // After each write completes, the consumer has taken all but a bounded amount of what was written.
    written.forEach((seen, i) => expect((i + 1) * 64 * 1024 - seen).toBeLessThanOrEqual(4 * 64 * 1024));
  });
});

describe('redirections', () => {
  it('writes, appends and reads files through the Vfs', async () => {
    const r = await runLine(host.vfs, 'echo first > /tmp/r1; echo second >> /tmp/r1; cat < /tmp/r1; echo x >/dev/null');
    expect(r.out).toBe('first\nsecond\n');
    expect(host.vfs.readFile('/tmp/r1').toString()).toBe('first\nsecond\n');
  });

  it('2> and 2>&1 route stderr in order', async () => {
    const toFile = await runLine(host.vfs, 'cat /tmp/missing 2> /tmp/err1');
    expect(toFile.err).toBe('');
    expect(host.vfs.readFile('/tmp/err1').toString()).toBe("cat: can't open '/tmp/missing': No such file or directory\n");
    const merged = await runLine(host.vfs, 'cat /tmp/missing 2>&1 | wc -l');
    expect(merged.out).toBe('1\n');
    const quiet = await runLine(host.vfs, 'cat /tmp/missing >/dev/null 2>&1');
    expect(quiet.err).toBe('');
    expect(quiet.status).toBe(1);
  });

  it('reports files that cannot be opened', async () => {
    const r = await runLine(host.vfs, 'echo x > /nodir/file');
    expect(r.status).toBe(1);
    expect(r.err).toBe("sh: can't create /nodir/file: No such file or directory\n");
    const r2 = await runLine(host.vfs, 'cat < /tmp/none');
    expect(r2.err).toBe("sh: can't open /tmp/none: No such file or directory\n");
  });

  it('expands command substitution into redirection targets and globs into arguments', async () => {
    host.vfs.mkdir('/tmp/g');
    for (const name of ['a.vmx', 'b.vmx', 'c.log']) host.vfs.writeFile(`/tmp/g/${name}`, name);
    const r = await runLine(host.vfs, 'echo /tmp/g/*.vmx; echo "/tmp/g/*.vmx"; echo /tmp/g/*.none; echo hi > $(echo /tmp/g/out)');
    expect(r.out).toBe('/tmp/g/a.vmx /tmp/g/b.vmx\n/tmp/g/*.vmx\n/tmp/g/*.none\n');
    expect(host.vfs.readFile('/tmp/g/out').toString()).toBe('hi\n');
  });
});

describe('abort', () => {
  it('stops a running command when the signal aborts', async () => {
    const controller = new AbortController();
    const pending = runLine(host.vfs, 'sleep 1000; echo never', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const r = await pending;
    expect(r.out).toBe('');
    expect(r.status).not.toBe(0);
  });
});
