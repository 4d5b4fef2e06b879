// Incremental file-level backups are the backup agent's job: the real restic and borg, run night after night on
// the -t file mounts of a VM at the same DIR, find the files the guest did not touch unchanged (same path, inode,
// size, ctime and mtime through a new snapshot, loop device and mount), read and store only what changed, and
// restore what the guest wrote. See docs/file-level.md, "Incremental backups with restic and borg".
//
// The tools run as asynchronous child processes only: the simulated host serving the mounts runs in this process.

import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { privateFile, startBench, type Bench } from './cli-helpers.js';
import { fileInventory, fixtureImage, guestWritesFile, guestWritesFiles, LINUX_VM, proxyLeftovers, sha256, WINDOWS_VM } from '../mount/file-mount-helpers.js';

/** The subset of restic's `backup --json` summary line the tests read. */
interface ResticSummary {
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  data_added: number;
  total_files_processed: number;
  snapshot_id: string;
}

/** What a file's change detection looks at, for every regular file under `root` (relative path → key). */
async function fileKeys(root: string): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) {
        const s = await lstat(join(root, path), { bigint: true });
        keys.set(path, `ino=${s.ino} size=${s.size} ctime=${s.ctimeNs} mtime=${s.mtimeNs}`);
      }
    }
  };
  await walk('');
  return keys;
}

function summaryOf(stdout: string): ResticSummary {
  const line = stdout.split('\n').find((l) => l.includes('"message_type":"summary"'));
  expect(line, `restic printed no summary:\n${stdout.slice(-2000)}`).toBeDefined();
  return JSON.parse(line!) as ResticSummary;
}

// Measured at 20-40 s and 12-25 s on a 2-core machine, depending on what else runs on it; the default 60 s is too tight.
const SLOW = 120_000;

describe('-t file, then restic and borg on the mounts: incremental backups', () => {
  let bench: Bench;
  let env: Record<string, string>;
  const HOST = 'backup-proxy';

  beforeAll(async () => {
    bench = await startBench(fileInventory([LINUX_VM, WINDOWS_VM]));
    // Secrets in files and the environment, never on a command line; caches and keys inside the bench.
    env = {
      RESTIC_PASSWORD_FILE: privateFile(bench.work, 'restic-password', 'restic secret\n'),
      RESTIC_CACHE_DIR: join(bench.work, 'restic-cache'),
      BORG_PASSPHRASE: 'borg secret',
      BORG_BASE_DIR: join(bench.work, 'borg-home'),
    };
  });
  afterAll(async () => {
    // A failed test may have left volumes mounted: take them down before the work directory goes.
    for (const name of ['linux', 'windows']) {
      const dir = join(bench.work, name);
      if ((await lstat(dir).catch(() => null)) !== null) await bench.cli(['-U', dir]);
    }
    await bench?.stop();
  });

  const restic = (repo: string, args: string[], cwd?: string) => execa('restic', ['--repo', repo, ...args], { env, cwd, reject: false });
  const borg = (args: string[], cwd?: string) => execa('borg', args, { env, cwd, reject: false });

  /** -t file, then `work` on the mounts, then -U whatever happened. */
  async function night<T>(vm: string, dir: string, work: () => Promise<T>): Promise<T> {
    const r = await bench.cli(['-a', `name:${vm}`, '-r', dir, '-t', 'file']);
    let failed = true;
    try {
      expect(r.exitCode, r.stderr).toBe(0);
      const out = await work();
      failed = false;
      return out;
    } finally {
      const u = await bench.cli(['-U', dir]);
      // A failure of -U after a failed check is reported with it, not instead of it.
      if (failed) expect.soft(u.exitCode, u.stderr).toBe(0);
      else expect(u.exitCode, u.stderr).toBe(0);
    }
  }

  test('a Linux guest changes one file and adds one between two nights: restic and borg read and store only those; both restore what the guest wrote', async () => {
    const vm = bench.sim.esx.vm(LINUX_VM.name);
    const image = fixtureImage('linux01-disk0');
    const root = image.partitions.find((p) => p.label === 'root')!;
    const dir = join(bench.work, 'linux');
    const src = join(dir, 'names/root');
    const resticRepo = join(bench.work, 'restic-linux');
    const borgRepo = join(bench.work, 'borg-linux');
    expect((await restic(resticRepo, ['init'])).exitCode).toBe(0);
    expect((await borg(['init', '--encryption=repokey', borgRepo])).exitCode).toBe(0);

    // The guest has been running since it was installed: one file newer than the rest (the fixture's files all
    // share one ctime, which real volumes never do; see borg's newest-ctime rule below).
    await guestWritesFile(vm, 0, root, '/var/lib/app/boot.log', Buffer.from('booted\n'));

    // Night 1: everything is new.
    const first = await night(LINUX_VM.name, dir, async () => {
      const keys = await fileKeys(src);
      // The two read the same mounts side by side.
      const [b, g] = await Promise.all([restic(resticRepo, ['backup', '--json', '--host', HOST, src]), borg(['create', '--json', borgRepo + '::night-1', src])]);
      expect(b.exitCode, b.stderr).toBe(0);
      expect(g.exitCode, g.stderr).toBe(0);
      return { keys, restic: summaryOf(b.stdout), borg: JSON.parse(g.stdout).archive.stats as { deduplicated_size: number; nfiles: number } };
    });
    const rootFiles = image.files.filter((f) => f.partition === root.index);
    expect(first.keys.size).toBeGreaterThanOrEqual(rootFiles.length + 1);
    for (const f of rootFiles) expect(first.keys.has(f.path.slice(1)), f.path).toBe(true);
    expect(first.restic.files_new).toBe(first.keys.size);
    expect(first.borg.nfiles).toBe(first.keys.size);
    const dataBin = rootFiles.find((f) => f.path === '/var/lib/app/data.bin')!;
    expect(first.restic.data_added).toBeGreaterThan(dataBin.sizeBytes / 2);
    expect(first.borg.deduplicated_size).toBeGreaterThan(dataBin.sizeBytes / 2);

    // By day, with no snapshot: the guest changes one file and adds one.
    const hostname = Buffer.from('linux01-renamed\n');
    const motd = Buffer.from('Maintenance on Sunday.\n'.repeat(200));
    await guestWritesFiles(vm, 0, root, [
      ['/etc/hostname', hostname],
      ['/etc/motd', motd],
    ]);
    expect(vm.snapshots).toEqual([]);

    // Night 2: a new snapshot, new loop devices, new mounts, the same paths.
    const second = await night(LINUX_VM.name, dir, async () => {
      const keys = await fileKeys(src);
      const [b, g] = await Promise.all([restic(resticRepo, ['backup', '--json', '--host', HOST, src]), borg(['create', '--json', '--list', '--log-json', borgRepo + '::night-2', src])]);
      expect(b.exitCode, b.stderr).toBe(0);
      expect(g.exitCode, g.stderr).toBe(0);
      const status = new Map<string, string>();
      for (const line of g.stderr.split('\n')) {
        if (!line.includes('"file_status"')) continue;
        const s = JSON.parse(line) as { status: string; path: string };
        if (s.path.startsWith(src + '/')) status.set(s.path.slice(src.length + 1), s.status);
      }
      return { keys, restic: summaryOf(b.stdout), borg: JSON.parse(g.stdout).archive.stats as { deduplicated_size: number; nfiles: number }, borgStatus: status };
    });

    // What both tools compare is unchanged through a new snapshot and mount for every file the guest left alone.
    const touched = ['etc/hostname', 'etc/motd'];
    expect([...second.keys.keys()].sort()).toEqual([...first.keys.keys(), 'etc/motd'].sort());
    const differing = [...second.keys].filter(([path, key]) => first.keys.get(path) !== key).map(([path]) => path);
    expect(differing.sort()).toEqual(touched);

    // restic took night 1 as the parent (same host, same path), read the two files, stored about their size.
    expect(second.restic).toMatchObject({ files_new: 1, files_changed: 1, files_unmodified: first.keys.size - 1 });
    const small = 64 * 1024 + hostname.length + motd.length;
    expect(second.restic.data_added).toBeLessThan(small);
    const snapshots = JSON.parse((await restic(resticRepo, ['snapshots', '--json'])).stdout) as Array<{ short_id: string; id: string; parent?: string }>;
    const latest = snapshots.find((s) => s.short_id === second.restic.snapshot_id || s.id === second.restic.snapshot_id)!;
    expect(latest.parent?.startsWith(first.restic.snapshot_id)).toBe(true);

    // borg: 'U' (unchanged, from its files cache, not read) for every file the guest left alone, except the one
    // that had the newest ctime on night 1: borg keeps no cache entry for those (a file system timestamp
    // granularity guard), so it reads it again ('A') and stores nothing new for it.
    expect(second.borgStatus.get('etc/hostname')).toBe('M');
    expect(second.borgStatus.get('etc/motd')).toBe('A');
    const reread = [...second.borgStatus].filter(([path, s]) => s !== 'U' && first.keys.has(path) && !touched.includes(path)).map(([path]) => path);
    expect(reread).toEqual(['var/lib/app/boot.log']);
    for (const f of rootFiles.filter((f) => f.path !== '/etc/hostname')) expect(second.borgStatus.get(f.path.slice(1)), f.path).toBe('U');
    expect(second.borg.nfiles).toBe(first.keys.size + 1);
    expect(second.borg.deduplicated_size).toBeLessThan(small);

    // Both restore the guest's files byte for byte.
    const restored = join(bench.work, 'restored-restic');
    const extracted = join(bench.work, 'extracted-borg');
    await mkdir(extracted);
    const [r, x] = await Promise.all([restic(resticRepo, ['restore', 'latest', '--host', HOST, '--path', src, '--target', restored]), borg(['extract', borgRepo + '::night-2'], extracted)]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(x.exitCode, x.stderr).toBe(0);
    for (const base of [join(restored, src), join(extracted, src)]) {
      expect((await readFile(join(base, 'etc/hostname'))).equals(hostname), base).toBe(true);
      expect((await readFile(join(base, 'etc/motd'))).equals(motd), base).toBe(true);
      expect(sha256(await readFile(join(base, dataBin.path))), base).toBe(dataBin.sha256);
    }

    expect(vm.snapshots).toEqual([]);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  }, SLOW);

  test('a Windows-like guest (NTFS through ntfs-3g, letters/C): two nights with no change, restic reads nothing again', async () => {
    const dir = join(bench.work, 'windows');
    const src = join(dir, 'letters/C');
    const repo = join(bench.work, 'restic-windows');
    expect((await restic(repo, ['init'])).exitCode).toBe(0);
    const backup = () =>
      night(WINDOWS_VM.name, dir, async () => {
        const keys = await fileKeys(src);
        const b = await restic(repo, ['backup', '--json', '--host', HOST, src]);
        expect(b.exitCode, b.stderr).toBe(0);
        return { keys, restic: summaryOf(b.stdout) };
      });
    const first = await backup();
    const second = await backup();
    const files = fixtureImage('win01-disk0').files;
    expect(first.keys.size).toBeGreaterThanOrEqual(files.length);
    expect(first.restic.files_new).toBe(first.keys.size);
    // ntfs-3g gives each file its MFT record number as inode (use_ino) and NTFS's own change time as ctime.
    expect(second.keys).toEqual(first.keys);
    expect(second.restic).toMatchObject({ files_new: 0, files_changed: 0, files_unmodified: first.keys.size });
    expect(second.restic.data_added).toBeLessThan(64 * 1024);
    expect(bench.sim.esx.vm(WINDOWS_VM.name).snapshots).toEqual([]);
    expect(await proxyLeftovers(bench.work)).toEqual([]);
  }, SLOW);
});
