// --agent: the backup program runs on the ready export or mount (real restic, a real shell), its status is the run's, and nothing is left on the host.

import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { isProcessAlive } from '../../src/engine/index.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { privateFile, readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, LINUX_VM, proxyLeftovers } from '../mount/file-mount-helpers.js';

function duBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

describe('--agent on a fullvm export', () => {
  let bench: Bench;
  let restic: Record<string, string>;

  beforeAll(async () => {
    bench = await startBench(
      smallInventory([
        { name: 'busy', vmid: 21, disks: [{ size: '32M', thin: true, fillBytes: '24M' }], guest: FAST_GUEST },
        { name: 'idle', vmid: 22, power: 'off', disks: [{ size: '8M', thin: true, fillBytes: '4M' }] },
      ]),
    );
    const repo = join(bench.work, 'restic-repo');
    restic = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: privateFile(bench.work, 'restic-pass', 'agent test\n') };
    await execa('restic', ['init', '--quiet'], { env: restic });
  });
  afterAll(async () => bench?.stop());

  test('restic backs up a running VM: the restore equals the disk at the snapshot instant', async () => {
    const vm = bench.sim.esx.vm('busy');
    const initial = [vm.readDisk(0)];
    const from = vm.guest.events.length;
    const out = join(bench.work, 'busy');
    const agent = 'restic backup --quiet --tag "vm={vm}" --tag "type={type}" --host vcbmounter {dir}';
    const r = await bench.cli(['-a', 'name:busy', '-r', out, '--agent', agent, '-L', '3'], { env: restic });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/"agent":"restic"/);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);

    vm.guest.stop();
    const events = vm.guest.events.slice(from);
    const snapAt = markerIndex(events, 'snapshot.created');
    expect(events.slice(snapAt).filter((e) => e.ev === 'apply').length, 'the guest wrote after the snapshot').toBeGreaterThan(0);
    const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt)[0]!;
    expect(atSnapshot.equals(vm.readDisk(0))).toBe(false);

    const snapshots = JSON.parse((await execa('restic', ['snapshots', '--json'], { env: restic })).stdout) as Array<{ tags: string[]; paths: string[] }>;
    expect(snapshots.filter((x) => x.tags.includes('vm=busy'))).toHaveLength(1);
    expect(snapshots.find((x) => x.tags.includes('vm=busy'))!.tags).toEqual(['vm=busy', 'type=fullvm']);
    const target = join(bench.work, 'restored');
    await execa('restic', ['restore', 'latest', '--target', target], { env: restic });
    const flatName = readCatalog(out).disks[0]!.extentFiles[0]!;
    const restored = readFileSync(join(target, out, flatName));
    expect(restored.equals(atSnapshot), 'the restored disk is the disk at the snapshot instant').toBe(true);

  });

  test('a second backup of an unchanged VM adds to the restic repository far less than the disk', async () => {
    const agent = 'restic backup --quiet --tag "vm={vm}" {dir}';
    const out = join(bench.work, 'idle-nightly');
    const first = await bench.cli(['-a', 'name:idle', '-r', out, '--agent', agent], { env: restic });
    expect(first.exitCode, first.stderr).toBe(0);
    const before = duBytes(restic.RESTIC_REPOSITORY!);
    const again = await bench.cli(['-a', 'name:idle', '-r', out, '--preexisting-mountpoint', 'delete', '--agent', agent], { env: restic });
    expect(again.exitCode, again.stderr).toBe(0);
    const grew = duBytes(restic.RESTIC_REPOSITORY!) - before;
    expect(grew).toBeGreaterThan(0);
    expect(grew).toBeLessThan(readCatalog(out).disks[0]!.allocatedBytes! / 8);
  });

  test('the agent gets the placeholders and VCB_* variables, never the host password, and runs with sh only when asked', async () => {
    const out = join(bench.work, 'env-check');
    const seen = join(bench.work, 'agent-saw');
    mkdirSync(seen);
    const r = await bench.cli(
      ['-a', 'name:idle', '-r', out, '--agent-shell', '--agent', `env > ${seen}/env; printf '%s\\n' {dir} {vm} {type} > ${seen}/args`],
      { password: 'none', env: { VCBMOUNTER_PASSWORD: bench.sim.password } },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const env = readFileSync(join(seen, 'env'), 'utf8');
    expect(env).toContain(`VCB_DIR=${out}\n`);
    expect(env).toContain('VCB_VM=idle\n');
    expect(env).toContain('VCB_TYPE=fullvm\n');
    expect(env).toMatch(/VCB_SNAPSHOT_TIME=\d{4}-\d\d-\d\dT/);
    expect(env).not.toContain(bench.sim.password);
    expect(readFileSync(join(seen, 'args'), 'utf8')).toBe(`${out}\nidle\nfullvm\n`);

    const piped = await bench.cli(['-a', 'name:idle', '-r', join(bench.work, 'no-shell'), '--agent', 'cat {dir}/x | wc -c']);
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toMatch(/--agent "cat \{dir\}\/x \| wc -c": "\|" needs a shell; .*--agent-shell/);
    expect(existsSync(join(bench.work, 'no-shell'))).toBe(false);
  });

  test.each([
    ['fails', ['--agent', 'sh -c "echo disk full >&2; exit 3"'], /the agent sh exited with status 3/],
    ['hangs past --agent-timeout', ['--agent', 'sleep 60', '--agent-timeout', '1'], /the agent sleep did not finish within --agent-timeout \(1 s\) and was killed/],
    ['is killed', ['--agent-shell', '--agent', 'kill -9 $$'], /the agent sh -c 'kill -9 \$\$' was killed by SIGKILL/],
    ['cannot be started', ['--agent', 'no-such-backup-program {dir}'], /the agent no-such-backup-program could not be started/],
  ])('an agent that %s: exit 10 naming it, no snapshot left, the export kept', async (_what, flags, message) => {
    const vm = bench.sim.esx.vm('idle');
    const out = join(bench.work, `failing-${_what.replace(/\W+/g, '-')}`);
    const r = await bench.cli(['-a', 'name:idle', '-r', out, ...flags]);
    expect(r.exitCode, r.stderr).toBe(10);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/step agent/);
    // What the agent printed is in the log, a line per entry, tagged with its stream.
    if (_what === 'fails') expect(r.stderr).toMatch(/"agent":"sh","stream":"stderr","msg":"disk full"/);
    expect(vm.snapshots).toHaveLength(0);
    expect(readCatalog(out).disks).toHaveLength(1);
  });
});

describe('--agent when vcbmounter itself is stopped', () => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM]));
  });
  afterAll(async () => bench?.stop());

  test('SIGTERM while the agent runs on a -t file mount: the agent is stopped, then the mounts and the snapshot are released, exit 143', async () => {
    const vm = bench.sim.esx.vm(LINUX_VM.name);
    const dir = join(bench.work, 'interrupted');
    const pidFile = join(bench.work, 'agent.pid');
    const run = binCommand(['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-',
      '-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file', '--agent-shell', '--agent', `echo $$ > ${pidFile}; exec sleep 120`]);
    const child = spawn(run.command, run.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, VCBMOUNTER_PASSWORD: '' } });
    child.stdin.end(`${bench.sim.password}\n`);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    // One signal only: a second one forces the exit without cleanup.
    const poll = setInterval(() => {
      if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n')) {
        clearInterval(poll);
        child.kill('SIGTERM');
      }
    }, 50);
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    clearInterval(poll);
    expect(exitCode, stderr).toBe(143);
    const agentPid = Number(readFileSync(pidFile, 'utf8'));
    expect(isProcessAlive(agentPid), 'the agent is stopped').toBe(false);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('--agent and a forced exit', () => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startBench(smallInventory([{ name: 'tiny', vmid: 23, power: 'off', disks: [{ size: '4M', thin: true, fillBytes: '1M' }] }]));
  });
  afterAll(async () => bench?.stop());

  test('a second SIGTERM while an agent that ignores SIGTERM still runs: the forced exit names it as still running', async () => {
    const pidFile = join(bench.work, 'stubborn.pid');
    const run = binCommand(['-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-p', '-',
      '-a', 'name:tiny', '-r', join(bench.work, 'tiny'), '--agent-shell', '--agent', `trap '' TERM; echo $$ > ${pidFile}; sleep 121.5`]);
    const child = spawn(run.command, run.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, VCBMOUNTER_PASSWORD: '' } });
    child.stdin.end(`${bench.sim.password}\n`);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    let signals = 0;
    const poll = setInterval(() => {
      if (signals === 0 && existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n')) {
        signals = 1;
        child.kill('SIGTERM');
      } else if (signals === 1 && stderr.includes('interrupted')) {
        signals = 2;
        child.kill('SIGTERM');
      }
    }, 50);
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    clearInterval(poll);
    const agentPid = Number(readFileSync(pidFile, 'utf8'));
    try {
      expect(exitCode, stderr).toBe(143);
      expect(stderr).toMatch(new RegExp(`forced exit during cleanup.*still running: the agent sh -c .* \\(pid \\d+\\)`));
    } finally {
      if (isProcessAlive(agentPid)) process.kill(agentPid, 'SIGKILL');
      await execa('pkill', ['-KILL', '-f', '^sleep 121.5$'], { reject: false });
    }
  });
});

describe('--agent on a -t file mount', () => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM]));
  });
  afterAll(async () => bench?.stop());

  test('the agent reads the mounted volumes; then the run takes everything down itself (no -U)', async () => {
    const vm = bench.sim.esx.vm(LINUX_VM.name);
    const dir = join(bench.work, 'mounted');
    const listing = join(bench.work, 'listing');
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file', '--agent-shell', '--agent', `cd {dir}/digits && find . -path '*/etc/hostname' > ${listing}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const files = readFileSync(listing, 'utf8').split('\n').filter(Boolean);
    expect(files.length).toBeGreaterThan(0);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(existsSync(dir)).toBe(false);

    const failing = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file', '--agent', 'false']);
    expect(failing.exitCode, failing.stderr).toBe(10);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
