// mount-backup end to end: a real fullvm backup of the simulator's guest-volume VMs mounted read-only on this proxy (real nbdfuse, loop devices, mount, ntfs-3g), -U, deletion refused while mounted, SIGTERM.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProcessAlive, listOpenRuns, readRecords } from '../../src/engine/index.js';
import { MANIFEST_FILE, type VolumeManifest } from '../../src/mount/layout.js';
import type { RunSummary } from '../../src/jobfile/summary-types.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, fixtureImage, LINUX_VM, mountsUnder, proxyLeftovers, sha256, WINDOWS_VM } from '../mount/file-mount-helpers.js';

function manifestOf(dir: string): VolumeManifest {
  return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as VolumeManifest;
}

function serverOf(dir: string): { pid: number; startedBefore: number } {
  return (JSON.parse(readFileSync(join(dir, '.vcbmounter-state.json'), 'utf8')) as { server: { pid: number; startedBefore: number } }).server;
}

/** Every file under dir (names relative to it) with its size and sha256: the backup as it is on disk. */
function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub ? `${sub}/${name}` : name;
      const st = statSync(join(dir, rel));
      if (st.isDirectory()) walk(rel);
      else out[rel] = `${st.size} ${createHash('sha256').update(readFileSync(join(dir, rel))).digest('hex')}`;
    }
  };
  walk('');
  return out;
}

/** The files of `dir` process `pid` has open, each with whether it opened it for writing (O_WRONLY or O_RDWR). */
function openFilesUnder(pid: number, dir: string): Array<{ path: string; writable: boolean }> {
  const found = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let path: string;
    try {
      path = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (!path.startsWith(dir + '/')) continue;
    const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    found.push({ path, writable: (flags & 3) !== 0 });
  }
  return found;
}

/** Every fixture file of `image` seen through the mount at `mounted(partition)` equals what the guest put there. */
async function expectFixtureFiles(image: string, mounted: (partition: number) => string): Promise<void> {
  const files = fixtureImage(image).files;
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const data = await readFile(join(mounted(f.partition), f.path));
    expect(data.length, f.path).toBe(f.sizeBytes);
    expect(sha256(data), f.path).toBe(f.sha256);
  }
}

/** Every disk server any run in stateDir started (from the journals, finished ones included). */
function journaledDiskServers(stateDir: string): Array<{ pid: number; startedBefore?: number }> {
  const servers = [];
  const journals = join(stateDir, 'journal');
  for (const name of readdirSync(journals)) {
    const records = readRecords(join(journals, name));
    const ids = new Set(records.filter((r) => r.event === 'acquire' && r.kind === 'disk-server').map((r) => r.id));
    const fields: Record<string, unknown> = {};
    for (const r of records) if (r.id && ids.has(r.id) && r.event === 'update') Object.assign(fields, r.resource);
    if (typeof fields.pid === 'number') servers.push({ pid: fields.pid, ...(typeof fields.startedBefore === 'number' ? { startedBefore: fields.startedBefore } : {}) });
  }
  return servers;
}

async function waitFor(what: string, check: () => boolean, ms = 30_000, everyMs = 10): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const DATA = fixtureImage('linux01-disk0').files.find((f) => f.path === '/var/lib/app/data.bin')!;

describe('mount-backup', () => {
  let bench: Bench;
  let job: string;
  const mountPoints: string[] = [];
  const mountPoint = (name: string) => {
    const dir = join(bench.work, 'mnt', name);
    mountPoints.push(dir);
    return dir;
  };
  const backupsOf = (vm: string) => {
    const dir = join(bench.work, 'backup', vm);
    return existsSync(dir) ? readdirSync(dir).filter((n) => !n.includes('.')).sort().map((n) => join(dir, n)) : [];
  };
  /** A job-file run of one VM: a fullvm backup under backup/<vm>/<time>, verified, then `keep: { last: 1 }`. */
  const runJob = async (): Promise<{ exitCode: number; summary: RunSummary; stderr: string }> => {
    const r = await bench.cli(['run', job, '--json', '--no-notify'], { bare: true });
    return { exitCode: r.exitCode, summary: JSON.parse(r.stdout) as RunSummary, stderr: r.stderr };
  };

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM, WINDOWS_VM]));
    const pass = join(bench.work, 'esx.pass');
    writeFileSync(pass, `${bench.sim.password}\n`, { mode: 0o600 });
    job = join(bench.work, 'nightly.yaml');
    writeFileSync(
      job,
      `hosts:
  esx01: { address: 127.0.0.1, port: ${bench.sim.port}, user: root, passwordFile: ${pass}, hostKey: "${bench.sim.fingerprint}" }
defaults:
  type: fullvm
  destination: ${bench.work}/backup/{vm}/{time}
  keep: { last: 1 }
  verify: true
stateDir: ${bench.stateDir}
vms:
  - host: esx01
    select: ["name:${LINUX_VM.name}"]
`,
    );
  });
  afterAll(async () => {
    // A failed test may have left volumes mounted: take them down before the work directory goes.
    for (const dir of mountPoints) if (existsSync(dir)) await bench.cli(['-U', dir], { bare: true });
    await bench?.stop();
  });

  test('a Linux backup (GPT, ext4): every file byte for byte, read-only, named from its fstab; the backup never changes, is not deleted while mounted; -U leaves nothing', async () => {
    const first = await runJob();
    expect(first.exitCode, first.stderr).toBe(0);
    const [backup] = backupsOf(LINUX_VM.name);
    expect(backup).toBeDefined();
    const before = treeDigest(backup!);

    const dir = mountPoint('linux');
    const r = await bench.cli(['mount-backup', backup!, dir, '--state-dir', bench.stateDir], { bare: true });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('names/root');
    const manifest = manifestOf(dir);
    expect(manifest.volumes.map((v) => [v.disk, v.partition, v.fileSystem, v.label, v.paths])).toEqual([
      [0, 1, 'ext4', 'boot', ['digits/0-1', 'names/boot']],
      [0, 2, 'ext4', 'root', ['digits/0-2', 'names/root']],
    ]);
    expect(manifest.volumes.map((v) => v.guestMountPoint)).toEqual(['/boot', '/']);
    expect(manifest).toMatchObject({ vm: LINUX_VM.name, mode: 'backup', backup });
    await expectFixtureFiles('linux01-disk0', (p) => join(dir, 'digits', `0-${p}`));
    expect(sha256(await readFile(join(dir, 'names/root', DATA.path)))).toBe(DATA.sha256);
    for (const p of ['digits/0-1', 'names/root']) await expect(writeFile(join(dir, p, 'written-by-the-proxy'), 'x')).rejects.toThrow(/EROFS|EACCES|EPERM|read-only/i);
    // The disk server reads the backup's files, and has none of them open for writing.
    const server = serverOf(dir);
    const open = openFilesUnder(server.pid, backup!);
    expect(open.map((f) => f.path.slice(backup!.length + 1))).toEqual([`${LINUX_VM.name}-flat.vmdk`]);
    expect(open.every((f) => !f.writable), 'opened read-only').toBe(true);

    // Mounting it a second time is refused, and leaves nothing.
    const twice = mountPoint('linux-again');
    const again = await bench.cli(['mount-backup', backup!, twice, '--state-dir', bench.stateDir], { bare: true });
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toContain(`already mounted at ${dir}`);
    expect(existsSync(twice)).toBe(false);

    // Retention of the next job run would delete it (keep last 1): it skips it and says why.
    const second = await runJob();
    expect(second.exitCode, second.stderr).toBe(0);
    const vm = second.summary.vms[0]!;
    expect(vm.pruned ?? []).toEqual([]);
    expect(vm.warnings.join('\n')).toMatch(new RegExp(`retention could not delete ${backup}: .*mounted at ${dir}`));
    expect(backupsOf(LINUX_VM.name)).toHaveLength(2);

    // --preexisting-mountpoint delete into it is refused before the host is touched; so is -U of the backup.
    const replace = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', backup!, '--preexisting-mountpoint', 'delete']);
    expect(replace.exitCode).toBe(7);
    expect(replace.stderr).toContain('step destination');
    expect(replace.stderr).toMatch(/is mounted at .* by vcbmounter mount-backup; take it down first with vcbmounter -U/);
    expect(bench.sim.esx.vm(LINUX_VM.name).snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    const removeIt = await bench.cli(['-U', backup!, '--state-dir', bench.stateDir], { bare: true });
    expect(removeIt.exitCode).toBe(7);
    expect(existsSync(join(backup!, 'catalog'))).toBe(true);

    // Reading every file and all of the above changed nothing in the backup.
    expect(treeDigest(backup!)).toEqual(before);

    const u = await bench.cli(['-U', dir, '--state-dir', bench.stateDir], { bare: true });
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(isProcessAlive(server.pid, server.startedBefore), 'the disk server is stopped').toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(listOpenRuns(bench.stateDir)).toEqual([]);
    expect(treeDigest(backup!)).toEqual(before);

    // Taken down, it is an ordinary old backup again: the next run's retention deletes it.
    const third = await runJob();
    expect(third.exitCode, third.stderr).toBe(0);
    expect(third.summary.vms[0]!.pruned).toContain(backup);
    expect(backupsOf(LINUX_VM.name)).toHaveLength(1);
  }, 300_000);

  test('a Windows-like backup with -M 0 (two NTFS disks in 2 GiB pieces): drive letters C and D, every file, read-only', async () => {
    const backup = join(bench.work, 'win-backup');
    const b = await bench.cli(['-a', `name:${WINDOWS_VM.name}`, '-r', backup, '-M', '0']);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(readdirSync(backup)).toContain(`${WINDOWS_VM.name}-f001.vmdk`);
    const before = treeDigest(backup);
    const dir = mountPoint('windows');
    // An empty directory made beforehand is used, and kept at -U.
    mkdirSync(dir, { recursive: true });
    const r = await bench.cli(['mount-backup', backup, dir, '--state-dir', bench.stateDir, '--json'], { bare: true });
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { ok: boolean; volumes: VolumeManifest['volumes'] };
    expect(result.volumes.map((v) => [v.disk, v.fileSystem, v.label, v.letter])).toEqual([
      [0, 'ntfs', 'System', 'C'],
      [1, 'ntfs', 'Data', 'D'],
    ]);
    await expectFixtureFiles('win01-disk0', () => join(dir, 'letters/C'));
    await expectFixtureFiles('win01-disk1', () => join(dir, 'letters/D'));
    await expect(writeFile(join(dir, 'letters/C', 'x.txt'), 'x')).rejects.toThrow(/EROFS|EACCES|EPERM|read-only/i);
    const u = await bench.cli(['-U', dir, '--state-dir', bench.stateDir], { bare: true });
    expect(u.exitCode, u.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(treeDigest(backup)).toEqual(before);
  }, 180_000);

  test('a mount whose disk server died is a dead record: the backup can be mounted again, and -U takes both down', async () => {
    const backup = join(bench.work, 'win-backup');
    const dead = mountPoint('dead');
    expect((await bench.cli(['mount-backup', backup, dead, '--state-dir', bench.stateDir], { bare: true })).exitCode).toBe(0);
    const server = serverOf(dead);
    process.kill(server.pid, 'SIGKILL');
    await waitFor('the disk server to die', () => !isProcessAlive(server.pid, server.startedBefore), 20_000, 50);
    const live = mountPoint('live');
    const r = await bench.cli(['mount-backup', backup, live, '--state-dir', bench.stateDir], { bare: true });
    expect(r.exitCode, r.stderr).toBe(0);
    await expectFixtureFiles('win01-disk1', () => join(live, 'letters/D'));
    for (const dir of [dead, live]) {
      const u = await bench.cli(['-U', dir, '--state-dir', bench.stateDir], { bare: true });
      expect(u.exitCode, u.stderr).toBe(0);
    }
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(listOpenRuns(bench.stateDir)).toEqual([]);
  }, 120_000);

  test('SIGTERM while it mounts: exit 143 and nothing is left mounted, attached or running', async () => {
    const backup = join(bench.work, 'win-backup');
    const dir = mountPoint('sigterm');
    const vlun = join(bench.stateDir, 'vlun');
    const run = binCommand(['mount-backup', backup, dir, '--state-dir', bench.stateDir]);
    const child = execa(run.command, run.args, { reject: false });
    // Stopped as soon as the disk server's first disk file is mounted, before the volumes are: the signal then lands mid-mount.
    await waitFor('the first disk file', () => mountsUnder(vlun).length > 0, 30_000, 5);
    process.kill(child.pid!, 'SIGSTOP');
    expect(existsSync(join(dir, '.vcbmounter-state.json')), 'stopped before the hand-over').toBe(false);
    process.kill(child.pid!, 'SIGTERM');
    process.kill(child.pid!, 'SIGCONT');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(143);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(mountsUnder(vlun)).toEqual([]);
    const servers = journaledDiskServers(bench.stateDir);
    expect(servers.length, 'the run had started its disk server').toBeGreaterThan(0);
    expect(servers.filter((p) => isProcessAlive(p.pid, p.startedBefore)), 'no disk server left running').toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(listOpenRuns(bench.stateDir)).toEqual([]);
  }, 120_000);

  test('kill -9 while it mounts: -U MOUNTPOINT releases what the run left (mounts, loop devices, disk server, journal)', async () => {
    const backup = join(bench.work, 'win-backup');
    const dir = mountPoint('kill9');
    const vlun = join(bench.stateDir, 'vlun');
    const run = binCommand(['mount-backup', backup, dir, '--state-dir', bench.stateDir]);
    const child = execa(run.command, run.args, { reject: false });
    // Killed as soon as the disk server's first disk file is mounted, before the volumes are: no unwinding runs.
    await waitFor('the first disk file', () => mountsUnder(vlun).length > 0, 30_000, 5);
    process.kill(child.pid!, 'SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    expect(existsSync(join(dir, '.vcbmounter-state.json')), 'killed before the hand-over').toBe(false);
    expect(listOpenRuns(bench.stateDir).length, 'the killed run is open').toBeGreaterThan(0);
    const u = await bench.cli(['-U', dir, '--state-dir', bench.stateDir], { bare: true });
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(mountsUnder(vlun)).toEqual([]);
    const servers = journaledDiskServers(bench.stateDir);
    expect(servers.filter((p) => isProcessAlive(p.pid, p.startedBefore)), 'no disk server left running').toEqual([]);
    expect(listOpenRuns(bench.stateDir)).toEqual([]);
    // The backup can be mounted again at once.
    const again = mountPoint('kill9-again');
    expect((await bench.cli(['mount-backup', backup, again, '--state-dir', bench.stateDir], { bare: true })).exitCode).toBe(0);
    expect((await bench.cli(['-U', again, '--state-dir', bench.stateDir], { bare: true })).exitCode).toBe(0);
  }, 120_000);

  test('bad input: not a fullvm backup is a usage error (2); MOUNTPOINT not empty or not a directory (7); nothing is left', async () => {
    const notBackup = join(bench.work, 'not-a-backup');
    mkdirSync(notBackup);
    writeFileSync(join(notBackup, 'some-file'), 'x');
    const dir = mountPoint('bad');
    const a = await bench.cli(['mount-backup', notBackup, dir, '--state-dir', bench.stateDir], { bare: true });
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toContain(`${notBackup}: not a fullvm backup (no catalog in it); mount-backup takes the directory of a backup made with -t fullvm`);
    const b = await bench.cli(['mount-backup', join(bench.work, 'no-such'), dir, '--state-dir', bench.stateDir], { bare: true });
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toContain('no such directory');

    const backup = join(bench.work, 'win-backup');
    const full = join(bench.work, 'mnt', 'full');
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, 'keep-me'), 'x');
    const c = await bench.cli(['mount-backup', backup, full, '--state-dir', bench.stateDir], { bare: true });
    expect(c.exitCode).toBe(7);
    expect(c.stderr).toContain(`${full} exists and is not empty; mount-backup mounts the volumes in a new or empty directory: choose another MOUNTPOINT`);
    expect(readdirSync(full)).toEqual(['keep-me']);
    const d = await bench.cli(['mount-backup', backup, join(full, 'keep-me'), '--state-dir', bench.stateDir], { bare: true });
    expect(d.exitCode).toBe(7);
    expect(d.stderr).toContain('is not a directory');
    expect(existsSync(dir)).toBe(false);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(listOpenRuns(bench.stateDir)).toEqual([]);
  });
});
