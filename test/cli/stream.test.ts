// --stream: the export goes into the agent's stdin as one tar (real restic, borg, sh, tar); nothing is written on the proxy, and a broken stream is never stored as whole.

import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProcessAlive } from '../../src/engine/index.js';
import { verifyExport } from '../../src/export/index.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { privateFile, readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

const PASSPHRASE = 'stream passphrase 51c2';

/** Unpacks a tar given on stdin by `command` (the agent's own restore) into a new directory. */
async function untar(command: string[], env: Record<string, string>, into: string): Promise<string> {
  mkdirSync(into, { recursive: true });
  await execa('sh', ['-c', '"$@" | tar -x -C "$TARGET"', 'untar', ...command], { env: { ...env, TARGET: into } });
  return into;
}

describe('--stream', () => {
  let bench: Bench;
  let restic: Record<string, string>;
  let borg: Record<string, string>;
  let cwd: string;

  beforeAll(async () => {
    bench = await startBench(
      smallInventory([
        { name: 'busy', vmid: 61, disks: [{ size: '32M', thin: true, fillBytes: '24M' }], guest: FAST_GUEST },
        { name: 'idle', vmid: 62, power: 'off', disks: [{ size: '64M', thin: true, fillBytes: '48M' }, { size: '16M', thin: false, fillBytes: '8M' }] },
        { name: 'large', vmid: 63, power: 'off', disks: [{ size: '96M', thin: false, fillBytes: '80M' }] },
      ]),
    );
    restic = { RESTIC_REPOSITORY: join(bench.work, 'restic-repo'), RESTIC_PASSWORD_FILE: privateFile(bench.work, 'restic-pass', `${PASSPHRASE}\n`) };
    await execa('restic', ['init', '--quiet'], { env: restic });
    borg = { BORG_REPO: join(bench.work, 'borg-repo'), BORG_PASSPHRASE: PASSPHRASE, BORG_BASE_DIR: join(bench.work, 'borg-home') };
    await execa('borg', ['init', '--encryption', 'repokey'], { env: borg });
    cwd = join(bench.work, 'cwd');
    mkdirSync(cwd);
  });
  afterAll(async () => bench?.stop());

  const snapshotNames = (vm: string) => bench.sim.esx.vm(vm).snapshots.map((s) => s.name);

  test('restic --stdin gets a running VM; restic dump | tar x gives an export equal to the disk at the snapshot instant; nothing is written on the proxy', async () => {
    const vm = bench.sim.esx.vm('busy');
    const initial = [vm.readDisk(0)];
    const from = vm.guest.events.length;
    const r = await bench.cli(['-a', 'name:busy', '--stream', '--agent-preset', 'restic', '-L', '4'], { env: restic, cwd });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/backup of busy .* streamed to the agent: 1 disk/);
    expect(snapshotNames('busy')).not.toContain(SNAPSHOT_NAME);
    expect(readdirSync(cwd), 'no export directory').toEqual([]);

    vm.guest.stop();
    const events = vm.guest.events.slice(from);
    const snapAt = markerIndex(events, 'snapshot.created');
    const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt)[0]!;
    expect(atSnapshot.equals(vm.readDisk(0)), 'the guest wrote after the snapshot').toBe(false);

    const snapshots = JSON.parse((await execa('restic', ['snapshots', '--json'], { env: restic })).stdout) as Array<{ tags: string[]; paths: string[] }>;
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]!.paths).toEqual(['/busy.tar']);
    const dir = await untar(['restic', 'dump', 'latest', '/busy.tar'], restic, join(bench.work, 'busy-restored'));
    const catalog = readCatalog(dir);
    expect(readFileSync(join(dir, catalog.disks[0]!.extentFiles[0]!)).equals(atSnapshot)).toBe(true);
    expect((await verifyExport(dir)).every((d) => d.ok), 'the tar unpacks into an export its own catalog verifies').toBe(true);
  });

  test('borg create - gets two disks and the VM files; a second night of the unchanged VM adds almost nothing', async () => {
    const first = await bench.cli(['-a', 'name:idle', '--stream', '--agent-preset', 'borg'], { env: borg, cwd });
    expect(first.exitCode, first.stderr).toBe(0);
    const list = JSON.parse((await execa('borg', ['list', '--json'], { env: borg })).stdout) as { archives: Array<{ name: string }> };
    const dir = await untar(['borg', 'extract', '--stdout', `::${list.archives[0]!.name}`], borg, join(bench.work, 'idle-restored'));
    const catalog = readCatalog(dir);
    expect(catalog.disks).toHaveLength(2);
    for (const [i, disk] of catalog.disks.entries()) expect(readFileSync(join(dir, disk.extentFiles[0]!)).equals(bench.sim.esx.vm('idle').readDisk(i))).toBe(true);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['catalog', 'idle.vmx', 'idle.nvram', 'idle.vmdk']));

    const size = async () => (JSON.parse((await execa('borg', ['info', '--json'], { env: borg })).stdout) as { cache: { stats: { unique_csize: number } } }).cache.stats.unique_csize;
    const before = await size();
    const second = await bench.cli(['-a', 'name:idle', '--stream', '--agent-preset', 'borg'], { env: borg, cwd });
    expect(second.exitCode, second.stderr).toBe(0);
    // Only the chunks around the tar's headers and the catalog change: a few MiB of 56 written.
    expect((await size()) - before).toBeLessThan((48 + 8) * 1024 * 1024 / 4);
  });

  test('an agent that fails, or ends without reading everything, fails the run (exit 10); no snapshot is left', async () => {
    const failing = await bench.cli(['-a', 'name:large', '--stream', '--agent-shell', '--agent', 'head -c 100000 > /dev/null; exit 3'], { cwd });
    expect(failing.exitCode, failing.stderr).toBe(10);
    expect(failing.stderr).toMatch(/the agent sh -c .* exited with status 3/);
    const early = await bench.cli(['-a', 'name:large', '--stream', '--agent', 'true'], { cwd });
    expect(early.exitCode, early.stderr).toBe(10);
    expect(early.stderr).toMatch(/the agent true exited before it read all of its input/);
    expect(snapshotNames('large')).not.toContain(SNAPSHOT_NAME);
  });

  test('a read from the host that fails once the stream has begun stops the agent before its input ends: restic stores nothing', async () => {
    const pidFile = join(bench.work, 'restic.pid');
    bench.sim.faults.add({ match: '^dd .*large', action: 'fail', exitCode: 1, stderr: 'dd: injected read error' });
    const r = await bench.cli(['-a', 'name:large', '--stream', '--agent-shell', '--agent', `echo $$ > ${pidFile}; exec restic backup --stdin --stdin-filename large.tar --tag broken`], { env: restic, cwd });
    bench.sim.faults.clear();
    const snapshots = JSON.parse((await execa('restic', ['snapshots', '--json', '--tag', 'broken'], { env: restic })).stdout) as unknown[];
    expect(snapshots, 'no truncated stream stored as a backup').toEqual([]);
    expect(r.exitCode, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/injected read error/);
    expect(isProcessAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
    expect(snapshotNames('large')).not.toContain(SNAPSHOT_NAME);
  });

  test('usage errors: -r, no agent, -t file, -M 0, pre', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['-r', join(bench.work, 'x'), '--stream', '--agent', 'cat'], /--stream -r .*: a stream writes no export directory/],
      [['--stream'], /--stream needs the program to stream into/],
      [['--stream', '--agent', 'cat', '-t', 'file'], /--stream -t file: only a fullvm image can be streamed/],
      [['--stream', '--agent', 'cat', '-M', '0'], /--stream -M 0/],
    ];
    for (const [args, message] of cases) {
      const r = await bench.cli(['-a', 'name:idle', ...args], { cwd });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(bench.work, 'x'))).toBe(false);
  });
});
