// -t file when things go wrong: the host connection drops or the disk server dies under a reading program, a volume is busy at -U, the run is killed, the proxy cannot mount.

import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProcessAlive, listOpenRuns } from '../../src/engine/index.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, fixtureImage, guestWritesFile, LINUX_VM, mountsUnder, proxyLeftovers, sha256 } from '../mount/file-mount-helpers.js';

const DATA = fixtureImage('linux01-disk0').files.find((f) => f.path === '/var/lib/app/data.bin')!;
const ROOT = fixtureImage('linux01-disk0').partitions.find((p) => p.label === 'root')!;
/** A file larger than what the disk server caches of what mounting read: reading it all needs the host. */
const BIG = { path: '/big.bin', data: Buffer.alloc(24 * 1024 * 1024) };
for (let i = 0; i < BIG.data.length; i += 32) BIG.data.writeUInt32LE((i * 2654435761) >>> 0, i);

function serverOf(dir: string): { pid: number; startedBefore: number } {
  return (JSON.parse(readFileSync(join(dir, '.vcbmounter-state.json'), 'utf8')) as { server: { pid: number; startedBefore: number } }).server;
}

/** Forgets what this machine cached of every disk (the page cache over the loop devices and disk files). */
function dropPageCache(): void {
  writeFileSync('/proc/sys/vm/drop_caches', '3');
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('-t file faults', () => {
  let bench: Bench;
  const dirs: string[] = [];
  const mountDir = (name: string) => {
    const dir = join(bench.work, name);
    dirs.push(dir);
    return dir;
  };
  const snapshots = () => bench.sim.esx.vm(LINUX_VM.name).snapshots.map((s) => s.name);

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM]));
    await guestWritesFile(bench.sim.esx.vm(LINUX_VM.name), 0, ROOT, BIG.path, BIG.data);
  });
  /** Each test mounts the VM at most once at a time: whatever a failed test left is taken down. */
  const takeDown = async (dir: string) => {
    bench.sim.faults.clear();
    if (existsSync(dir)) await bench.cli(['-U', dir]);
  };
  afterAll(async () => {
    bench.sim.faults.clear();
    for (const dir of dirs) if (existsSync(dir)) await bench.cli(['-U', dir]);
    await bench?.stop();
  });

  test('the host connection drops while a program reads: the read fails with EIO, the mount stays sane, and -U still takes everything down', async () => {
    const dir = mountDir('drop');
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
    expect(r.exitCode, r.stderr).toBe(0);
    try {
      dropPageCache();
      // Every dd from now on loses the connection: the server's one reconnect loses it again.
      bench.sim.faults.add({ match: '^dd ', action: 'drop' });
      await expect(readFile(join(dir, 'names/root', BIG.path))).rejects.toThrow(/EIO|i\/o error/i);
      expect(bench.sim.faults.fired.length).toBeGreaterThan(0);
      bench.sim.faults.clear();
      // Once the host answers again, the next read reconnects and gets the file right.
      expect((await readFile(join(dir, 'names/root', BIG.path))).equals(BIG.data)).toBe(true);
      expect(sha256(await readFile(join(dir, 'names/root', DATA.path)))).toBe(DATA.sha256);
    } finally {
      await takeDown(dir);
    }
    const u = await bench.cli(['-U', dir]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(snapshots()).not.toContain(SNAPSHOT_NAME);
  });

  test('kill -9 of the disk server: reads fail with EIO, -U still unmounts, detaches and removes the snapshot', async () => {
    const dir = mountDir('server-killed');
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
    expect(r.exitCode, r.stderr).toBe(0);
    const server = serverOf(dir);
    try {
      process.kill(server.pid, 'SIGKILL');
      await waitFor('the server to die', () => !isProcessAlive(server.pid, server.startedBefore));
      dropPageCache();
      await expect(readFile(join(dir, 'names/root', BIG.path))).rejects.toThrow(/EIO|ENOTCONN|i\/o error|not connected/i);
    } catch (e) {
      await takeDown(dir);
      throw e;
    }
    const u = await bench.cli(['-U', dir]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(snapshots()).not.toContain(SNAPSHOT_NAME);
  });

  test('a volume still in use at -U is detached lazily, -U says so, and nothing remains once the program ends', async () => {
    const dir = mountDir('busy');
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
    expect(r.exitCode, r.stderr).toBe(0);
    const busy = execa('sleep', ['600'], { cwd: join(dir, 'digits/0-2'), reject: false });
    busy.catch(() => {});
    try {
      const u = await bench.cli(['-U', dir]);
      expect(u.exitCode, u.stderr).toBe(0);
      expect(u.stderr).toMatch(/still in use/);
      expect(u.stderr).toContain('digits/0-2');
      expect(mountsUnder(dir)).toEqual([]);
      expect(snapshots()).not.toContain(SNAPSHOT_NAME);
    } finally {
      busy.kill('SIGKILL');
      await busy;
    }
    await waitFor('the lazily detached volume and its loop device to go', async () => (await proxyLeftovers(bench.work)).length === 0);
    expect(existsSync(dir)).toBe(false);
    // Safe to repeat.
    const again = await bench.cli(['-U', dir]);
    expect(again.exitCode, again.stderr).toBe(0);
  });

  test.each(['cleanup', 'the next run'] as const)('kill -9 of the run while it mounts: %s releases the mounts, loop devices, processes and the snapshot', async (by) => {
    const dir = mountDir(`killed-${by.replace(/ /g, '-')}`);
    const run = binCommand(['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-', '--json', '-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
    // Each read of the disks takes a while: the mount step lasts long enough to be killed in.
    bench.sim.faults.add({ match: '^dd ', action: 'slow', delayMs: 300 });
    const child = execa(run.command, run.args, { input: `${bench.sim.password}\n`, reject: false, env: { VCBMOUNTER_PASSWORD: '' } });
    let seen = '';
    // Killed once the first volume is mounted: the disk server, nbdfuse, a loop device and a mount are held.
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    await waitFor('the first volume to be mounted', () => seen.includes('"step":"mount"') && mountsUnder(dir).length > 0, 30_000);
    child.kill('SIGKILL');
    const killed = await child;
    bench.sim.faults.clear();
    expect(killed.signal, 'killed before it finished').toBe('SIGKILL');
    expect(snapshots()).toContain(SNAPSHOT_NAME);
    expect((await proxyLeftovers(bench.work)).length).toBeGreaterThan(0);
    if (by === 'cleanup') {
      const c = await bench.cli(['cleanup', '-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-'], { bare: true, input: `${bench.sim.password}\n` });
      expect(c.exitCode, c.stderr).toBe(0);
    } else {
      const next = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
      expect(next.exitCode, next.stderr).toBe(0);
      expect(sha256(await readFile(join(dir, 'names/root', DATA.path)))).toBe(DATA.sha256);
      const u = await bench.cli(['-U', dir]);
      expect(u.exitCode, u.stderr).toBe(0);
    }
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(snapshots()).not.toContain(SNAPSHOT_NAME);
    expect(existsSync(dir)).toBe(false);
    expect(listOpenRuns(bench.stateDir)).toEqual([]);
  });

  test('not root: exit 9 naming what is missing, and nothing is acquired (no snapshot, no journal)', async () => {
    const dir = join(bench.work, 'not-root');
    // A state directory the unprivileged user can write: the refusal must come from the proxy check, not from it.
    const stateDir = mkdtempSync(join(bench.work, 'nobody-'));
    chmodSync(bench.work, 0o711);
    chmodSync(stateDir, 0o777);
    const run = binCommand(['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', stateDir, '-p', '-', '-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', run.command, ...run.args], { input: `${bench.sim.password}\n`, reject: false, env: { VCBMOUNTER_PASSWORD: '' } });
    expect(r.exitCode, r.stderr).toBe(9);
    expect(r.stderr).toMatch(/must run as root/);
    expect(snapshots()).not.toContain(SNAPSHOT_NAME);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(stateDir).filter((n) => n !== 'locks' && n !== 'journal'), 'nothing in the state directory').toEqual([]);
    for (const sub of ['journal', 'locks']) if (existsSync(join(stateDir, sub))) expect(readdirSync(join(stateDir, sub))).toEqual([]);
  });

  test('-h sim refuses -t file (the embedded host would end with the command), before anything starts', async () => {
    const run = binCommand(['-h', 'sim', '-a', 'name:web01', '-r', join(bench.work, 'sim-file'), '-t', 'file']);
    const r = await execa(run.command, run.args, { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('vcbmounter sim');
  });
});
