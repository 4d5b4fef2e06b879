// -t file end to end: the guest volumes of a running VM's snapshot mounted read-only on this proxy (real nbdfuse, loop devices, mount, ntfs-3g), then -U.

import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isProcessAlive } from '../../src/engine/index.js';
import { MANIFEST_FILE, type VolumeManifest } from '../../src/mount/layout.js';
import { SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, fixtureImage, guestWritesFile, LINUX_VM, proxyLeftovers, sha256, WINDOWS_VM } from '../mount/file-mount-helpers.js';
import { buildMixedMbrDisk, type BuiltImage } from '../mount/guest-images.js';

function manifestOf(dir: string): VolumeManifest {
  return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as VolumeManifest;
}

function serverPid(dir: string): { pid: number; startedBefore: number } {
  return (JSON.parse(readFileSync(join(dir, '.vcbmounter-state.json'), 'utf8')) as { server: { pid: number; startedBefore: number } }).server;
}

// Reads through the mounts are asynchronous: the simulated host that serves them runs in this very process, and a
// synchronous read would block it from answering.

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

async function expectReadOnly(path: string): Promise<void> {
  await expect(writeFile(join(path, 'written-by-the-proxy'), 'x')).rejects.toThrow(/EROFS|EACCES|EPERM|read-only/i);
}

describe('-t file', () => {
  let bench: Bench;
  const mode = (m: 'nbd' | 'san') => (m === 'san' ? ['-m', 'san', '--lun', `${bench.sim.esx.vfs.datastores()[0]!.lvid}=${bench.sim.esx.vfs.datastores()[0]!.lunPath}`] : ['-m', 'nbd']);

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM, WINDOWS_VM]));
  });
  afterAll(async () => {
    // A failed test may have left volumes mounted: take them down before the work directory goes.
    for (const name of ['linux-nbd', 'linux-san', 'linux-held', 'windows']) if (existsSync(join(bench.work, name))) await bench.cli(['-U', join(bench.work, name)]);
    await bench?.stop();
  });

  test.each(['nbd', 'san'] as const)('-m %s: a Linux guest (GPT, ext4): every file as the guest wrote it, read-only, named from its fstab; a file written after the snapshot is not there; -U leaves nothing', async (m) => {
    const vm = bench.sim.esx.vm(LINUX_VM.name);
    const image = fixtureImage('linux01-disk0');
    const root = image.partitions.find((p) => p.label === 'root')!;
    const dir = join(bench.work, `linux-${m}`);
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file', ...mode(m)]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(vm.snapshots.map((s) => s.name)).toContain(SNAPSHOT_NAME);
    const baseFlat = `${vm.dir}/${vm.fileBase}-flat.vmdk`;
    const baseBefore = sha256(bench.sim.esx.vfs.readFile(baseFlat));

    const manifest = manifestOf(dir);
    expect(manifest.volumes.map((v) => [v.disk, v.partition, v.fileSystem, v.label, v.partitionTable])).toEqual([
      [0, 1, 'ext4', 'boot', 'gpt'],
      [0, 2, 'ext4', 'root', 'gpt'],
    ]);
    expect(manifest.volumes.map((v) => v.paths)).toEqual([
      ['digits/0-1', 'names/boot'],
      ['digits/0-2', 'names/root'],
    ]);
    expect(manifest.volumes.map((v) => v.guestMountPoint)).toEqual(['/boot', '/']);
    await expectFixtureFiles('linux01-disk0', (p) => join(dir, 'digits', `0-${p}`));
    await expectFixtureFiles('linux01-disk0', (p) => join(dir, 'names', p === 1 ? 'boot' : 'root'));
    for (const p of ['digits/0-1', 'digits/0-2', 'names/root']) await expectReadOnly(join(dir, p));

    // The guest creates a file after the snapshot: it reaches the VM's disk, not the mounted snapshot.
    const lateName = `late-${m}.txt`;
    const late = Buffer.from(`written after the snapshot (${m})\n`);
    await guestWritesFile(vm, 0, root, `/${lateName}`, late);
    expect(await readdir(join(dir, 'names/root'))).not.toContain(lateName);

    // Reading every file wrote nothing to the frozen base disk.
    expect(sha256(bench.sim.esx.vfs.readFile(baseFlat))).toBe(baseBefore);
    const pid = serverPid(dir);
    const u = await bench.cli(['-U', dir]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(isProcessAlive(pid.pid, pid.startedBefore), 'the disk server is stopped').toBe(false);
    expect(existsSync(dir), 'DIR is removed').toBe(false);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
    // The guest's file is on its disk now: the next snapshot shows it.
    const again = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file', ...mode(m)]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect((await readFile(join(dir, 'names/root', lateName))).equals(late)).toBe(true);
    expect((await bench.cli(['-U', dir])).exitCode).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  });

  test('while mounted, a backup of the VM is refused naming the mount and its -U, and cleanup --list shows the mount with its age', async () => {
    const vm = bench.sim.esx.vm(LINUX_VM.name);
    const dir = join(bench.work, 'linux-held');
    const r = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', dir, '-t', 'file']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = join(bench.work, 'linux-held-fullvm');
    const backup = await bench.cli(['-a', `name:${LINUX_VM.name}`, '-r', out]);
    expect(backup.exitCode, backup.stderr).toBe(5);
    expect(backup.stderr).toContain(`held by the guest volumes mounted at ${dir}`);
    expect(backup.stderr).toContain(`vcbmounter -U ${dir} with the host's flags`);
    expect(backup.stderr).not.toContain('wait for that backup to end');
    expect(existsSync(out)).toBe(false);
    expect(vm.snapshots.filter((s) => s.name === SNAPSHOT_NAME)).toHaveLength(1);

    const list = await bench.cli(['cleanup', '--list', '--state-dir', bench.stateDir], { bare: true });
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toContain('no interrupted runs to clean up');
    const line = list.stdout.split('\n').find((l) => l.includes(`mounted at ${dir} since `));
    expect(line, list.stdout).toBeDefined();
    expect(line).toContain(`vm "${LINUX_VM.name}"`);
    expect(line).toContain(`served by pid ${serverPid(dir).pid}`);
    expect(line).toMatch(/holds: _VCB-BACKUP_ snapshot of \S+ and \d+ mount\(s\), device\(s\) and file\(s\) on this proxy/);
    expect(line).toContain(`release: vcbmounter -U ${dir} with the host's flags`);

    expect((await bench.cli(['-U', dir])).exitCode).toBe(0);
    const after = await bench.cli(['cleanup', '--list', '--state-dir', bench.stateDir], { bare: true });
    expect(after.stdout).toBe('no interrupted runs to clean up\n');
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  });

  test('a Windows-like guest (MBR, NTFS C: and a second disk D:): drive letters in the guest\'s order, every file, read-only', async () => {
    const dir = join(bench.work, 'windows');
    const r = await bench.cli(['-a', `name:${WINDOWS_VM.name}`, '-r', dir, '-t', 'file']);
    expect(r.exitCode, r.stderr).toBe(0);
    const manifest = manifestOf(dir);
    expect(manifest.volumes.map((v) => [v.disk, v.partition, v.fileSystem, v.label, v.letter, v.partitionTable])).toEqual([
      [0, 1, 'ntfs', 'System', 'C', 'mbr'],
      [1, 1, 'ntfs', 'Data', 'D', 'mbr'],
    ]);
    await expectFixtureFiles('win01-disk0', () => join(dir, 'letters/C'));
    await expectFixtureFiles('win01-disk1', () => join(dir, 'letters/D'));
    await expectFixtureFiles('win01-disk1', () => join(dir, 'digits/1-1'));
    for (const p of ['letters/C', 'letters/D', 'digits/0-1']) await expectReadOnly(join(dir, p));
    expect(r.stdout).toContain('letters/C');
    const u = await bench.cli(['-U', dir]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
    expect(bench.sim.esx.vm(WINDOWS_VM.name).snapshots).toEqual([]);
  });
});

describe('-t file of a VM that runs on a user snapshot', () => {
  let bench: Bench;
  const VM = { ...LINUX_VM, name: 'fs-layered', vmid: 63, snapshots: [{ name: 'before-upgrade', description: 'admin' }] };

  beforeAll(async () => {
    bench = await startBench(fileInventory([VM]));
  });
  afterAll(async () => {
    for (const name of ['layered-nbd', 'layered-san']) if (existsSync(join(bench.work, name))) await bench.cli(['-U', join(bench.work, name)]);
    await bench?.stop();
  });

  test.each(['nbd', 'san'] as const)('-m %s: the mount shows the VM as of our snapshot: the base, the user snapshot\'s delta over it, nothing written later', async (m) => {
    const vm = bench.sim.esx.vm(VM.name);
    const root = fixtureImage('linux01-disk0').partitions.find((p) => p.label === 'root')!;
    // Written after the admin's snapshot: it lives only in that snapshot's delta.
    const inDelta = Buffer.from(`in the user snapshot's delta (${m})\n`);
    await guestWritesFile(vm, 0, root, `/in-delta-${m}.txt`, inDelta);
    const dir = join(bench.work, `layered-${m}`);
    const ds = bench.sim.esx.vfs.datastores()[0]!;
    const r = await bench.cli(['-a', `name:${VM.name}`, '-r', dir, '-t', 'file', '-m', m, ...(m === 'san' ? ['--lun', `${ds.lvid}=${ds.lunPath}`] : [])]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(vm.snapshots.map((s) => s.name)).toEqual(['before-upgrade', SNAPSHOT_NAME]);
    await guestWritesFile(vm, 0, root, `/after-ours-${m}.txt`, Buffer.from('later\n'));
    expect((await readFile(join(dir, 'names/root', `in-delta-${m}.txt`))).equals(inDelta)).toBe(true);
    expect(await readdir(join(dir, 'names/root'))).not.toContain(`after-ours-${m}.txt`);
    await expectFixtureFiles('linux01-disk0', (p) => join(dir, 'digits', `0-${p}`));
    const u = await bench.cli(['-U', dir]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(vm.snapshots.map((s) => s.name)).toEqual(['before-upgrade']);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  });
});

describe('-t file of an MBR disk with FAT32 and logical partitions', () => {
  let bench: Bench;
  let image: BuiltImage;
  const VM = { name: 'fs-mixed', vmid: 64, disks: [{ size: '64M', thin: true, fixture: 'mixed-mbr' }], guest: { writesPerSecond: 0 } };

  beforeAll(async () => {
    image = await buildMixedMbrDisk();
    bench = await startBench(fileInventory([VM]), { fixturesDir: image.fixturesDir });
  });
  afterAll(async () => {
    if (existsSync(join(bench.work, 'mixed'))) await bench.cli(['-U', join(bench.work, 'mixed')]);
    await bench?.stop();
    image?.cleanup();
  });

  test('FAT32 through fusefat, ext3 in a logical partition, swap and an unknown partition listed with their reasons', async () => {
    const dir = join(bench.work, 'mixed');
    const r = await bench.cli(['-a', `name:${VM.name}`, '-r', dir, '-t', 'file']);
    expect(r.exitCode, r.stderr).toBe(0);
    const manifest = manifestOf(dir);
    expect(manifest.volumes.map((v) => [v.partition, v.fileSystem, v.label ?? null, v.paths])).toEqual([
      [1, 'fat32', 'WINDATA', ['digits/0-1', 'letters/C']],
      [5, 'ext3', 'logs', ['digits/0-5', 'names/logs']],
      [6, 'swap', 'swap0', []],
      [7, 'unknown', null, []],
    ]);
    expect(manifest.volumes.find((v) => v.partition === 1)!.driver).toMatch(/vfat|fusefat/);
    expect(manifest.volumes.find((v) => v.partition === 7)!.notMounted).toMatch(/no file system/);
    expect(manifest.warnings.join('\n')).toContain('partition 7');
    for (const f of image.files) {
      const seen = await readFile(join(dir, 'digits', `0-${f.partition}`, f.path));
      expect(seen.equals(f.data), f.path).toBe(true);
    }
    await expectReadOnly(join(dir, 'letters/C'));
    await expectReadOnly(join(dir, 'names/logs'));
    const u = await bench.cli(['-U', dir]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  });
});
