// --agent-preset restic|borg: real restic and borg get the export or mount with disk-image settings, named after the VM and snapshot time, secrets only from their variables.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { smallInventory } from '../sim/integration/helpers.js';
import { privateFile, readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, LINUX_VM, proxyLeftovers } from '../mount/file-mount-helpers.js';

const PASSPHRASE = 'preset passphrase 7f3a';

/** The agent's argv as vcbmounter logged it ('running the agent'). */
function loggedArgv(stderr: string): string[] {
  const line = stderr.split('\n').find((l) => l.includes('running the agent'))!;
  return (JSON.parse(line) as { argv: string[] }).argv;
}

function diskFile(dir: string): string {
  return join(dir, readCatalog(dir).disks[0]!.extentFiles[0]!);
}

describe('--agent-preset on a fullvm export', () => {
  let bench: Bench;
  let restic: Record<string, string>;
  let borg: Record<string, string>;

  beforeAll(async () => {
    bench = await startBench(smallInventory([{ name: 'db, main', vmid: 51, power: 'off', disks: [{ size: '24M', thin: true, fillBytes: '12M' }] }]));
    restic = { RESTIC_REPOSITORY: join(bench.work, 'restic-repo'), RESTIC_PASSWORD_FILE: privateFile(bench.work, 'restic-pass', `${PASSPHRASE}\n`) };
    await execa('restic', ['init', '--quiet'], { env: restic });
    borg = { BORG_REPO: join(bench.work, 'borg-repo'), BORG_PASSPHRASE: PASSPHRASE, BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', BORG_BASE_DIR: join(bench.work, 'borg-home') };
    await execa('borg', ['init', '--encryption', 'repokey'], { env: borg });
  });
  afterAll(async () => bench?.stop());

  test('restic: tagged with the VM, timed at the snapshot, and the restore equals the export byte for byte', async () => {
    const dir = join(bench.work, 'restic-stage');
    const r = await bench.cli(['-a', 'name:db, main', '-r', dir, '--agent-preset', 'restic', '-L', '4', '--json'], { env: restic });
    expect(r.exitCode, r.stderr).toBe(0);
    const argv = loggedArgv(r.stderr);
    expect(argv.slice(0, 2)).toEqual(['restic', 'backup']);
    expect(argv.join(' ')).not.toContain(PASSPHRASE);
    const snapshots = JSON.parse((await execa('restic', ['snapshots', '--json'], { env: restic })).stdout) as Array<{ tags: string[]; time: string; paths: string[] }>;
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]!.tags).toEqual(['vcbmounter', 'vm=db_ main', 'type=fullvm']);
    // The snapshot's time, as vcbmounter passed it (local time, to the second), is the one restic records.
    const time = argv[argv.indexOf('--time') + 1]!;
    const { startedAt, endedAt } = JSON.parse(r.stdout) as { startedAt: string; endedAt: string };
    const passed = new Date(time.replace(' ', 'T')).getTime();
    expect(passed).toBeGreaterThanOrEqual(Math.floor(Date.parse(startedAt) / 1000) * 1000);
    expect(passed).toBeLessThanOrEqual(Date.parse(endedAt));
    expect(new Date(snapshots[0]!.time).getTime()).toBe(passed);

    const target = join(bench.work, 'restic-restore');
    await execa('restic', ['restore', 'latest', '--target', target], { env: restic });
    const disk = diskFile(dir);
    expect(readFileSync(join(target, disk)).equals(readFileSync(disk))).toBe(true);
  });

  test('borg: a fixed-size chunker with holes skipped, an archive named after the VM and snapshot time; a second night adds almost nothing', async () => {
    const dir = join(bench.work, 'borg-stage');
    const first = await bench.cli(['-a', 'name:db, main', '-r', dir, '--agent-preset', 'borg', '-L', '4'], { env: borg });
    expect(first.exitCode, first.stderr).toBe(0);
    const argv = loggedArgv(first.stderr);
    expect(argv).toEqual(expect.arrayContaining(['--chunker-params', 'fixed,4194304', '--sparse']));
    expect(argv.join(' ')).not.toContain(PASSPHRASE);
    const disk = diskFile(dir);
    const extracted = join(bench.work, 'borg-extract');
    mkdirSync(extracted);
    const list = JSON.parse((await execa('borg', ['list', '--json'], { env: borg })).stdout) as { archives: Array<{ name: string }> };
    expect(list.archives).toHaveLength(1);
    expect(list.archives[0]!.name).toMatch(/^db, main-\d{8}T\d{6}Z$/);
    await execa('borg', ['extract', '--sparse', `::${list.archives[0]!.name}`], { env: borg, cwd: extracted });
    expect(readFileSync(join(extracted, disk)).equals(readFileSync(disk))).toBe(true);

    const before = (JSON.parse((await execa('borg', ['info', '--json'], { env: borg })).stdout) as { cache: { stats: { unique_csize: number } } }).cache.stats.unique_csize;
    const second = await bench.cli(['-a', 'name:db, main', '-r', dir, '--agent-preset', 'borg', '--preexisting-mountpoint', 'delete'], { env: borg });
    expect(second.exitCode, second.stderr).toBe(0);
    const after = (JSON.parse((await execa('borg', ['info', '--json'], { env: borg })).stdout) as { cache: { stats: { unique_csize: number } } }).cache.stats.unique_csize;
    expect(after - before, 'the unchanged disk deduplicates').toBeLessThan(readCatalog(dir).disks[0]!.allocatedBytes! / 8);
  });

  test('a preset without its repository or password in the environment is a usage error before the host is contacted', async () => {
    const noRepo = await bench.cli(['-a', 'name:db, main', '-r', join(bench.work, 'never'), '--agent-preset', 'restic'], { env: { RESTIC_REPOSITORY: '', RESTIC_PASSWORD_FILE: restic.RESTIC_PASSWORD_FILE! } });
    expect(noRepo.exitCode).toBe(2);
    expect(noRepo.stderr).toMatch(/--agent-preset restic: set the repository \(RESTIC_REPOSITORY or RESTIC_REPOSITORY_FILE\) in the environment/);
    const noPassword = await bench.cli(['-a', 'name:db, main', '-r', join(bench.work, 'never'), '--agent-preset', 'restic'], { env: { RESTIC_REPOSITORY: restic.RESTIC_REPOSITORY!, RESTIC_PASSWORD_FILE: '', RESTIC_PASSWORD: '', RESTIC_PASSWORD_COMMAND: '' } });
    expect(noPassword.exitCode).toBe(2);
    expect(noPassword.stderr).toMatch(/set the password \(RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND or RESTIC_PASSWORD\)/);
    const both = await bench.cli(['-a', 'name:db, main', '-r', join(bench.work, 'never'), '--agent-preset', 'borg', '--agent', 'true'], { env: borg });
    expect(both.exitCode).toBe(2);
    expect(bench.sim.esx.vm('db, main').snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
  });

  test('a failing borg (wrong passphrase) fails the run with exit 10 naming borg', async () => {
    const r = await bench.cli(['-a', 'name:db, main', '-r', join(bench.work, 'bad-pass'), '--agent-preset', 'borg'], { env: { ...borg, BORG_PASSPHRASE: 'wrong' } });
    expect(r.exitCode, r.stderr).toBe(10);
    expect(r.stderr).toMatch(/the agent borg exited with status 2/);
    expect(bench.sim.esx.vm('db, main').snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
  });
});

describe('--agent-preset on a -t file mount', () => {
  let bench: Bench;

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM]));
  });
  afterAll(async () => bench?.stop());

  test('borg archives each volume once (digits/), then everything is released', async () => {
    const borg = { BORG_REPO: join(bench.work, 'borg-repo'), BORG_BASE_DIR: join(bench.work, 'borg-home') };
    await execa('borg', ['init', '--encryption', 'none'], { env: borg });
    const dir = join(bench.work, 'mounted');
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file', '--agent-preset', 'borg'], { env: borg });
    expect(r.exitCode, r.stderr).toBe(0);
    const list = JSON.parse((await execa('borg', ['list', '--json'], { env: borg })).stdout) as { archives: Array<{ name: string }> };
    const files = (await execa('borg', ['list', '--format', '{path}{NL}', `::${list.archives[0]!.name}`], { env: borg })).stdout.split('\n');
    expect(files.some((f) => f.startsWith(`${dir.slice(1)}/digits/`) && f.endsWith('etc/hostname'))).toBe(true);
    expect(files.some((f) => f.includes('/letters/') || f.includes('/names/'))).toBe(false);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  });
});
