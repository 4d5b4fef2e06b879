// Fault injection: rule matching and counting, and each action applied by the interpreter and the SSH server.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultEngine, loadFaultFile, parseFaultRules } from '../../src/sim/faults.js';
import { makeTempHost, MiB, runLine, type TempHost } from './shell-helpers.js';
import { connectClient, execOn, startSimServer, type SimServer } from './ssh-helpers.js';

const DS = '/vmfs/volumes/datastore1';

describe('FaultEngine decisions', () => {
  it('nth fires on the Nth matching call only, and non-matching calls do not count', () => {
    const engine = new FaultEngine([{ match: '^vim-cmd vmsvc/snapshot\\.create', action: 'fail', nth: 2 }]);
    const calls = [
      ['vim-cmd', 'vmsvc/snapshot.create', '1', 'a'],
      ['vim-cmd', 'vmsvc/power.getstate', '1'],
      ['vim-cmd', 'vmsvc/snapshot.create', '1', 'b'],
      ['vim-cmd', 'vmsvc/snapshot.create', '1', 'c'],
    ];
    expect(calls.map((argv) => engine.decide(argv, 1)?.action)).toEqual([undefined, undefined, 'fail', undefined]);
    expect(engine.fired).toMatchObject([{ ruleIndex: 0, argv: calls[2], action: 'fail', session: 1 }]);
  });

  it('after fires on every call after the Nth; times caps the firings', () => {
    const engine = new FaultEngine();
    engine.add({ match: '^cat', action: 'fail', after: 1, times: 2 });
    const pattern = Array.from({ length: 6 }, () => engine.decide(['cat', 'x'], 3) !== undefined);
    expect(pattern).toEqual([false, true, true, false, false, false]);
    engine.clear();
    expect(engine.decide(['cat', 'x'], 3)).toBeUndefined();
    expect(engine.fired).toEqual([]);
  });

  it('probability with a seed gives the same firing pattern every time', () => {
    const pattern = (seed: number) => {
      const engine = new FaultEngine([{ match: '.', action: 'fail', probability: 0.5, seed }]);
      return Array.from({ length: 40 }, () => (engine.decide(['dd'], 1) ? 1 : 0)).join('');
    };
    expect(pattern(42)).toBe(pattern(42));
    expect(pattern(42)).not.toBe(pattern(43));
    expect(pattern(42)).toMatch(/1/);
    expect(pattern(42)).toMatch(/0/);
  });

  it('the first rule that fires wins; later matching rules still count the call', () => {
    const engine = new FaultEngine([
      { match: '^dd', action: 'fail', nth: 1 },
      { match: '^dd', action: 'slow', nth: 2, delayMs: 1 },
    ]);
    expect(engine.decide(['dd'], 1)?.action).toBe('fail');
    expect(engine.decide(['dd'], 1)?.action).toBe('slow');
  });
});

describe('fault rule files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'faults-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads an array or {rules: [...]}', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify({ rules: [{ match: '^dd', action: 'slow', bytesPerSecond: 1000 }] }));
    expect(loadFaultFile(file)).toEqual([{ match: '^dd', action: 'slow', bytesPerSecond: 1000 }]);
    expect(parseFaultRules([{ match: 'x', action: 'drop' }])).toHaveLength(1);
  });

  it('names the bad field in schema errors', () => {
    expect(() => parseFaultRules([{ match: 'x', action: 'explode' }])).toThrow(/\[0\]\.action/);
    expect(() => parseFaultRules({ rules: [{ match: 'x', action: 'fail' }, { match: 'y', action: 'fail', probability: 2 }] })).toThrow(/rules\[1\]\.probability/);
    expect(() => parseFaultRules([{ match: '(', action: 'fail' }])).toThrow(/\[0\]\.match: not a valid regular expression/);
    expect(() => parseFaultRules([{ match: 'x', action: 'fail', nht: 1 }])).toThrow(/nht/);
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ not json');
    expect(() => loadFaultFile(file)).toThrow(new RegExp(`${file}: cannot read fault rules`));
  });
});

describe('fault actions in the interpreter', () => {
  let host: TempHost;
  beforeAll(() => {
    host = makeTempHost(64 * MiB);
    host.vfs.writeFile('/tmp/data', 'x'.repeat(500));
  });
  afterAll(() => host.cleanup());

  it('fail prints stderr and exits with the code without running the command', async () => {
    const faults = new FaultEngine([{ match: '^touch /tmp/f', action: 'fail', nth: 2, exitCode: 9, stderr: 'touch: injected' }]);
    const first = await runLine(host.vfs, 'touch /tmp/f1', { faults });
    const second = await runLine(host.vfs, 'touch /tmp/f2', { faults });
    expect(first.status).toBe(0);
    expect(second.status).toBe(9);
    expect(second.err).toBe('touch: injected\n');
    expect(host.vfs.stat('/tmp/f2')).toBeUndefined();
    expect(second.records[0]).toMatchObject({ argv: ['touch', '/tmp/f2'], exitCode: 9, fault: 'fail (rule 0)' });
  });

  it('hang never completes until the signal aborts', async () => {
    const faults = new FaultEngine([{ match: '^echo', action: 'hang' }]);
    const controller = new AbortController();
    let settled = false;
    const pending = runLine(host.vfs, 'echo stuck; touch /tmp/after-hang', { faults, signal: controller.signal }).then((r) => {
      settled = true;
      return r;
    });
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    controller.abort();
    const r = await pending;
    expect(r.out).toBe('');
    expect(host.vfs.stat('/tmp/after-hang')).toBeUndefined();
  });

  it('slow throttles stdout into small slices and keeps every byte in order', async () => {
    const faults = new FaultEngine([{ match: '^cat /tmp/data', action: 'slow', bytesPerSecond: 2000 }]);
    const r = await runLine(host.vfs, 'cat /tmp/data; echo done', { faults });
    expect(r.out).toBe(`${'x'.repeat(500)}done\n`);
    expect(r.records[0]!.fault).toBe('slow (rule 0)');
    expect(r.chunkSizes.slice(0, -1)).toEqual([200, 200, 100]);
  });

  it('slow with a delay does not run the command if the session ends during the delay', async () => {
    const faults = new FaultEngine([{ match: '^touch', action: 'slow', delayMs: 60_000 }]);
    const controller = new AbortController();
    const pending = runLine(host.vfs, 'touch /tmp/delayed', { faults, signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await pending;
    expect(host.vfs.stat('/tmp/delayed')).toBeUndefined();
  });

  it('fill marks the datastore full, then the command runs and its writes fail with ENOSPC', async () => {
    const faults = new FaultEngine([{ match: '^dd', action: 'fill', datastore: 'datastore1' }]);
    try {
      const r = await runLine(host.vfs, `dd if=/tmp/data of=${DS}/filled bs=100`, { faults });
      expect(r.status).toBe(1);
      expect(r.err).toContain(`dd: error writing '${DS}/filled': No space left on device`);
      expect(host.vfs.datastores()[0]!.free).toBe(0);
    } finally {
      host.vfs.setFull('datastore1', false);
    }
  });
});

describe('fault actions over SSH', () => {
  let sim: SimServer;
  beforeAll(async () => {
    sim = await startSimServer([{ username: 'root', password: 'pw' }]);
  });
  afterAll(async () => sim.close());

  it('drop closes the connection without an exit status', async () => {
    sim.faults.add({ match: '^cat /tmp/dropme', action: 'drop' });
    const client = await connectClient({ port: sim.server.port, username: 'root', password: 'pw' });
    const r = await execOn(client, 'echo before; cat /tmp/dropme; echo after');
    expect(r.code).toBeUndefined();
    expect(r.stdout.toString()).not.toContain('after');
    await new Promise<void>((resolve) => (r.connectionClosed ? resolve() : client.once('close', () => resolve())));
    expect(sim.faults.fired.at(-1)).toMatchObject({ action: 'drop', argv: ['cat', '/tmp/dropme'] });
    sim.faults.clear();
  });

  it('hang lasts until the client closes the channel, then the command is released', async () => {
    sim.faults.add({ match: '^sleep', action: 'hang' });
    const client = await connectClient({ port: sim.server.port, username: 'root', password: 'pw' });
    try {
      const before = sim.records.length;
      const outcome = await new Promise<{ code: number | undefined }>((resolve, reject) => {
        client.exec('sleep 1; touch /tmp/after-sleep', (err, channel) => {
          if (err) return reject(err);
          let code: number | undefined;
          channel.on('exit', (c: number) => (code = c));
          channel.on('close', () => resolve({ code }));
          channel.resume();
          const waitForHang = () => {
            if (sim.faults.fired.length === 0) return void setTimeout(waitForHang, 10);
            channel.close();
          };
          waitForHang();
        });
      });
      expect(outcome.code).toBeUndefined();
      for (let i = 0; i < 100 && sim.records.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(sim.records.slice(before).map((x) => x.argv[0])).toEqual(['sleep']);
      expect(sim.host.vfs.stat('/tmp/after-sleep')).toBeUndefined();
    } finally {
      client.end();
      sim.faults.clear();
    }
  });

  it('slow throttles what the client receives, in order', async () => {
    sim.host.vfs.writeFile('/tmp/slow', Buffer.from(Array.from({ length: 3000 }, (_, i) => 65 + (i % 26))));
    sim.faults.add({ match: '^cat /tmp/slow', action: 'slow', bytesPerSecond: 20_000 });
    const client = await connectClient({ port: sim.server.port, username: 'root', password: 'pw' });
    try {
      const sizes: number[] = [];
      const r = await execOn(client, 'cat /tmp/slow', { onChannel: (ch) => ch.on('data', (c: Buffer) => sizes.push(c.length)) });
      expect(r.code).toBe(0);
      expect(r.stdout.equals(sim.host.vfs.readFile('/tmp/slow'))).toBe(true);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(2000);
      expect(sizes.length).toBeGreaterThanOrEqual(2);
    } finally {
      client.end();
      sim.faults.clear();
    }
  });
});
