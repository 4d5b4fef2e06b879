// `vcbmounter pre` / `post DIR`: a backup program's before/after commands; pre prints only the ready directory, post releases it and is safe after any pre.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { smallInventory } from '../sim/integration/helpers.js';
import { privateFile, readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, LINUX_VM, proxyLeftovers } from '../mount/file-mount-helpers.js';

/** The host flags a backup program's job would carry, with the password in a file (never on argv). */
function hostArgs(bench: Bench, passwordFile: string): string[] {
  return ['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--password-file', passwordFile, '--state-dir', bench.stateDir];
}

function snapshotNames(bench: Bench, vm: string): string[] {
  return bench.sim.esx.vm(vm).snapshots.map((s) => s.name);
}

describe('pre and post on a fullvm export', () => {
  let bench: Bench;
  let host: string[];

  beforeAll(async () => {
    bench = await startBench(
      smallInventory([
        { name: 'web01', vmid: 31, disks: [{ size: '16M', thin: true, fillBytes: '8M' }] },
        { name: 'slow01', vmid: 32, disks: [{ size: '64M', thin: false, fillBytes: '48M' }] },
      ]),
    );
    host = hostArgs(bench, privateFile(bench.work, 'esx.pass', `${bench.sim.password}\n`));
  });
  afterAll(async () => bench?.stop());

  test('pre prints only the ready directory on stdout; post removes it; post again has nothing to do', async () => {
    const dir = join(bench.work, 'stage', 'web01');
    const pre = await bench.cli(['pre', ...host, '-a', 'name:web01', '-r', dir], { bare: true });
    expect(pre.exitCode, pre.stderr).toBe(0);
    expect(pre.stdout).toBe(`${dir}\n`);
    expect(pre.stderr).toMatch(/backup of web01 .* written to/);
    expect(readCatalog(dir).disks).toHaveLength(1);
    expect(snapshotNames(bench, 'web01')).not.toContain(SNAPSHOT_NAME);

    const post = await bench.cli(['post', dir, ...host], { bare: true });
    expect(post.exitCode, post.stderr).toBe(0);
    expect(post.stdout).toBe(`removed ${dir}\n`);
    expect(existsSync(dir)).toBe(false);

    const again = await bench.cli(['post', dir, ...host], { bare: true });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe(`nothing to remove at ${dir}\n`);
  });

  test('a failing pre prints nothing on stdout and exits non-zero; post after it succeeds with nothing left', async () => {
    const dir = join(bench.work, 'stage', 'missing');
    const pre = await bench.cli(['pre', ...host, '-a', 'name:no-such-vm', '-r', dir], { bare: true });
    expect(pre.exitCode).not.toBe(0);
    expect(pre.stdout).toBe('');
    expect(pre.stderr).toMatch(/no-such-vm/);
    const post = await bench.cli(['post', dir, ...host], { bare: true });
    expect(post.exitCode, post.stderr).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });

  test('pre refuses an agent and the embedded simulator with a usage error', async () => {
    const withAgent = await bench.cli(['pre', ...host, '-a', 'name:web01', '-r', join(bench.work, 'x'), '--agent', 'true'], { bare: true });
    expect(withAgent.exitCode).toBe(2);
    expect(withAgent.stderr).toMatch(/pre --agent/);
    const sim = await bench.cli(['pre', '-h', 'sim', '-a', 'name:web01', '-r', join(bench.work, 'y')], { bare: true });
    expect(sim.exitCode).toBe(2);
    expect(sim.stderr).toMatch(/pre -h sim/);
  });

  test('post after a pre killed mid-export releases its snapshot and its unfinished export (and needs the host flags to)', async () => {
    const dir = join(bench.work, 'stage', 'slow01');
    bench.sim.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 4 * 1024 * 1024 });
    const run = binCommand(['pre', ...host, '-a', 'name:slow01', '-r', dir]);
    const child = spawn(run.command, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const parent = join(bench.work, 'stage');
    // Killed once the export has begun: the snapshot exists and DIR.partial-<run> holds part of a disk.
    const poll = setInterval(() => {
      if (existsSync(parent) && readdirSync(parent).some((n) => n.startsWith('slow01.partial-'))) {
        clearInterval(poll);
        child.kill('SIGKILL');
      }
    }, 50);
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)));
    clearInterval(poll);
    bench.sim.faults.clear();
    expect(signal, stderr).toBe('SIGKILL');
    expect(snapshotNames(bench, 'slow01')).toContain(SNAPSHOT_NAME);

    const withoutHost = await bench.cli(['post', dir, '--state-dir', bench.stateDir], { bare: true });
    expect(withoutHost.exitCode).toBe(8);
    expect(withoutHost.stderr).toMatch(/was interrupted and still holds .*snapshot.*give -U the host's flags/);
    expect(snapshotNames(bench, 'slow01')).toContain(SNAPSHOT_NAME);

    const post = await bench.cli(['post', dir, ...host], { bare: true });
    expect(post.exitCode, post.stderr).toBe(0);
    expect(snapshotNames(bench, 'slow01')).not.toContain(SNAPSHOT_NAME);
    expect(readdirSync(parent).filter((n) => n.startsWith('slow01'))).toEqual([]);
    const list = await bench.cli(['cleanup', '--list', '--state-dir', bench.stateDir], { bare: true });
    expect(list.stdout).toBe('no interrupted runs to clean up\n');

    const again = await bench.cli(['post', dir, ...host], { bare: true });
    expect(again.exitCode, again.stderr).toBe(0);
  });
});

describe('pre and post on a -t file mount', () => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM]));
  });
  afterAll(async () => bench?.stop());

  test('pre leaves the volumes mounted and prints the directory; post takes everything down', async () => {
    const host = hostArgs(bench, privateFile(bench.work, 'esx.pass', `${bench.sim.password}\n`));
    const dir = join(bench.work, 'mounted');
    const pre = await bench.cli(['pre', ...host, '-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file'], { bare: true });
    expect(pre.exitCode, pre.stderr).toBe(0);
    expect(pre.stdout).toBe(`${dir}\n`);
    expect(readdirSync(join(dir, 'digits')).length).toBeGreaterThan(0);
    expect(readFileSync('/proc/mounts', 'utf8')).toContain(dir);
    expect(snapshotNames(bench, LINUX_VM.name)).toContain(SNAPSHOT_NAME);

    const post = await bench.cli(['post', dir, ...host], { bare: true });
    expect(post.exitCode, post.stderr).toBe(0);
    expect(snapshotNames(bench, LINUX_VM.name)).not.toContain(SNAPSHOT_NAME);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
