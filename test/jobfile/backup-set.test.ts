// A VM's backups found among real exports the CLI wrote from the simulator; the verification record; retention deleting real directories.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { INCOMPLETE_MARKER, STATE_FILE } from '../../src/export/index.js';
import { isVerified, listBackups, markVerified, verifyBackup, VERIFIED_FILE, type BackupEntry } from '../../src/jobfile/backup-set.js';
import { applyRetention, decideRetention, type RetentionLog } from '../../src/jobfile/retention.js';
import { smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, startBench, type Bench } from '../cli/cli-helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      { name: 'vm1', vmid: 71, disks: [{ size: '4M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
      { name: 'vm2', vmid: 72, disks: [{ size: '4M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } },
    ]),
  );
});
afterAll(async () => bench?.stop());

/** One real backup of vm by the CLI into dir. */
async function backupInto(vm: string, dir: string): Promise<void> {
  const r = await bench.cli(['-a', `name:${vm}`, '-r', dir]);
  expect(r.exitCode, r.stderr).toBe(0);
}

/** A copy of a real backup (sparse, as vcbmounter wrote it) to damage in one way. */
function copyOf(from: string, to: string): string {
  execFileSync('cp', ['-a', '--sparse=always', from, to]);
  return to;
}

function logSink(): RetentionLog & { lines: Array<{ level: string; fields: object; message: string }> } {
  const lines: Array<{ level: string; fields: object; message: string }> = [];
  return {
    lines,
    info: (fields, message) => lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => lines.push({ level: 'warn', fields, message }),
  };
}

const summary = (list: BackupEntry[]) => list.map((e) => ({ dir: e.dir, complete: e.complete, verified: e.verified, reason: e.reason }));

describe('listBackups over real exports', () => {
  let parent: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    parent = join(bench.work, 'backup', 'esx01', 'vm1');
    first = join(parent, '2026-11-29T230000');
    second = join(parent, '2026-11-30T230000');
    await backupInto('vm1', first);
    await backupInto('vm1', second);
    // Not candidates: another VM's backup in the same directory, a run's partial directory, a user's directory, a file, a link.
    await backupInto('vm2', join(parent, 'vm2-by-mistake'));
    mkdirSync(join(parent, '2026-12-01T230000.partial-20261201T230000Z-4242-abcdef'));
    writeFileSync(join(parent, '2026-12-01T230000.partial-20261201T230000Z-4242-abcdef', 'vm1-flat.vmdk'), 'half');
    mkdirSync(join(parent, 'lost+found'));
    writeFileSync(join(parent, 'README'), 'backups of vm1\n');
    execFileSync('ln', ['-s', first, join(parent, 'latest')]);
  });

  test('both backups are complete, newest first (by the catalog\'s startedAt); the partial one is listed as incomplete; nothing else is', async () => {
    const list = await listBackups(parent, { name: 'vm1' });
    expect(summary(list)).toEqual([
      { dir: join(parent, '2026-12-01T230000.partial-20261201T230000Z-4242-abcdef'), complete: false, verified: false, reason: expect.stringMatching(/^partial directory/) },
      { dir: second, complete: true, verified: false, reason: undefined },
      { dir: first, complete: true, verified: false, reason: undefined },
    ]);
    // The partial directory has no catalog, so its time is its modification time: the newest here.
    expect(list[1]!.time.toISOString()).toBe(readCatalog(second).startedAt);
    expect(list[2]!.time.toISOString()).toBe(readCatalog(first).startedAt);
    expect(list[1]!.runId).toBe(readCatalog(second).runId);
    // And what retention makes of it: the partial directory is never a candidate.
    const d = decideRetention(list, { last: 1 }, { requireVerified: false });
    expect(d.remove.map((r) => r.entry.dir)).toEqual([first]);
    expect(d.ignored.map((i) => i.entry.dir)).toEqual([list[0]!.dir]);
  });

  test('the other VM sees only its own backup (and the partial directory, which cannot say whose it is); a missing parent is empty', async () => {
    const list = await listBackups(parent, { name: 'vm2' });
    expect(summary(list.filter((e) => e.complete))).toEqual([{ dir: join(parent, 'vm2-by-mistake'), complete: true, verified: false, reason: undefined }]);
    expect(list.filter((e) => !e.complete).map((e) => e.dir)).toEqual([join(parent, '2026-12-01T230000.partial-20261201T230000Z-4242-abcdef')]);
    expect(await listBackups(join(bench.work, 'no', 'such'), { name: 'vm1' })).toEqual([]);
  });

  test('a VM renamed since is found by its BIOS UUID (written either way) and moref; a name alone, or the UUID of another registration, finds nothing', async () => {
    const uuid = readCatalog(first).vm.biosUuid!;
    expect(uuid).toBeTruthy();
    expect(readCatalog(first).vm.vmid).toBe('71');
    const spaced = uuid.replace(/-/g, '').replace(/(..)/g, '$1 ').trim();
    const byUuid = await listBackups(parent, { name: 'vm1-renamed', uuid: spaced, moref: '71' });
    expect(byUuid.filter((e) => e.complete).map((e) => e.dir)).toEqual([second, first]);
    expect((await listBackups(parent, { name: 'vm1-renamed' })).filter((e) => e.complete)).toEqual([]);
    // A copy of vm1 registered anew keeps its BIOS UUID: vm1's backups are not the copy's to prune.
    expect((await listBackups(parent, { name: 'vm1-copy', uuid: spaced, moref: '73' })).filter((e) => e.complete)).toEqual([]);
    expect((await listBackups(parent, { name: 'vm1-copy', uuid: spaced })).filter((e) => e.complete)).toEqual([]);
  });

  test('verifyBackup reads the disks back and writes the record; listBackups then says verified; a rewritten catalog undoes it', async () => {
    const result = await verifyBackup(first);
    expect(result.ok).toBe(true);
    const record = JSON.parse(readFileSync(join(first, VERIFIED_FILE), 'utf8'));
    expect(record).toMatchObject({ format: 'vcbmounter-verified', version: 1, runId: readCatalog(first).runId, toolVersion: expect.any(String) });
    expect(record.disks).toEqual(readCatalog(first).disks.map((d) => ({ descriptorFile: d.descriptorFile, digest: d.digest })));
    expect(readdirSync(first).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const list = await listBackups(parent, { name: 'vm1' });
    expect(list.find((e) => e.dir === first)!.verified).toBe(true);
    expect(list.find((e) => e.dir === second)!.verified).toBe(false);

    // A catalog written again (another digest for the disk) makes the old record worthless.
    const copy = copyOf(first, join(bench.work, 'rewritten'));
    const catalog = readCatalog(copy);
    expect(await isVerified(copy, catalog)).toBe(true);
    catalog.disks[0]!.digest = `sha256:${'0'.repeat(64)}`;
    writeFileSync(join(copy, 'catalog'), JSON.stringify(catalog));
    expect(await isVerified(copy, readCatalog(copy))).toBe(false);
    // ... and so does another run's catalog with the same digests.
    const other = { ...readCatalog(first), runId: 'another-run' };
    expect(await isVerified(first, other)).toBe(false);
    // A record that does not parse is no record.
    writeFileSync(join(copy, VERIFIED_FILE), '{"format":"vcbmounter-verified"');
    expect(await isVerified(copy, readCatalog(copy))).toBe(false);
  });

  test('markVerified refuses digests that are not the catalog\'s, and writes nothing', async () => {
    const copy = copyOf(second, join(bench.work, 'mark-refused'));
    const disks = readCatalog(copy).disks.map((d) => ({ descriptorFile: d.descriptorFile, digest: `sha256:${'1'.repeat(64)}` }));
    await expect(markVerified(copy, { disks })).rejects.toThrow(/digests read back .* are not the catalog's/);
    expect(existsSync(join(copy, VERIFIED_FILE))).toBe(false);
    await expect(markVerified(copy, { disks: [] })).rejects.toThrow(/no disks/);
  });

  test('a backup that only looks complete is incomplete, with why', async () => {
    const at = join(bench.work, 'damaged');
    mkdirSync(at);
    const damage: Array<[string, (dir: string) => void, RegExp]> = [
      ['marker', (d) => writeFileSync(join(d, INCOMPLETE_MARKER), 'x'), /^INCOMPLETE marker$/],
      ['half-unmounted', (d) => rmSync(join(d, readCatalog(d).disks[0]!.extentFiles[0]!)), /^missing files: vm1-flat\.vmdk$/],
      ['cut-off', (d) => truncateSync(join(d, readCatalog(d).disks[0]!.extentFiles[0]!), 1024), /data files hold 1024 bytes, the catalog says 4194304/],
      ['no-state', (d) => rmSync(join(d, STATE_FILE)), /^no \.vcbmounter-state\.json$/],
      ['other-state', (d) => writeFileSync(join(d, STATE_FILE), JSON.stringify({ format: 'vcbmounter-state', runId: 'x' })), /is not run .*'s \(it names "x"\)/],
      [
        'snapshot-held',
        (d) => {
          const state = JSON.parse(readFileSync(join(d, STATE_FILE), 'utf8'));
          state.held.push({ kind: 'snapshot', description: 'snapshot _VCB-BACKUP_ of vm1', resource: {} });
          writeFileSync(join(d, STATE_FILE), JSON.stringify(state));
        },
        /^its run still holds snapshot _VCB-BACKUP_ of vm1 \(release it with vcbmounter -U /,
      ],
      ['garbled', (d) => writeFileSync(join(d, 'catalog'), '{"format": "vcbmounter-catalog", "version": 1'), /^catalog unreadable: /],
      ['no-catalog', (d) => rmSync(join(d, 'catalog')), /^no catalog$/],
      // Whole backups under the names retention and a replacing run give them while they go: never counted again.
      ['dying.deleting-20261130T230000Z-1-aaaaaa', () => {}, /^being deleted by retention/],
      ['replaced.old-20261130T230000Z-1-aaaaaa', () => {}, /^an earlier backup set aside/],
    ];
    for (const [name, hurt] of damage) hurt(copyOf(first, join(at, name)));
    const list = await listBackups(at, { name: 'vm1' });
    expect(list.map((e) => e.complete)).toEqual(damage.map(() => false));
    for (const [name, , reason] of damage) expect(list.find((e) => e.dir === join(at, name))?.reason, name).toMatch(reason);
    // None of them is ever deleted, whatever the policy.
    const d = decideRetention(list, { last: 1 }, { requireVerified: false });
    expect(d.remove).toEqual([]);
    expect(d.ignored).toHaveLength(damage.length);
  });
});

describe('applyRetention on real directories', () => {
  test('deletes what the decision removes, refuses a directory whose catalog names another run now, and one holding a user\'s file', async () => {
    const parent = join(bench.work, 'prune', 'vm1');
    const dirs = ['d1', 'd2', 'd3', 'd4'].map((n) => join(parent, n));
    for (const dir of dirs) await backupInto('vm1', dir);
    for (const dir of dirs) expect((await verifyBackup(dir)).ok).toBe(true);
    const list = await listBackups(parent, { name: 'vm1' });
    expect(list.map((e) => [e.dir, e.verified])).toEqual([...dirs].reverse().map((d) => [d, true]));
    const decision = decideRetention(list, { last: 1 }, { requireVerified: true, protect: [dirs[3]!] });
    expect(decision.remove.map((r) => r.entry.dir)).toEqual([dirs[2], dirs[1], dirs[0]]);

    // Between the decision and the delete: d2 is replaced by another run's (complete) backup, a user leaves a file in d1.
    const other = join(bench.work, 'prune-elsewhere');
    await backupInto('vm1', other);
    rmSync(dirs[1]!, { recursive: true });
    renameSync(other, dirs[1]!);
    const laterRun = readCatalog(dirs[1]!).runId;
    writeFileSync(join(dirs[0]!, 'notes.txt'), 'do not lose this');

    const log = logSink();
    const result = await applyRetention(decision, log, { stateDir: bench.stateDir });
    expect(result.removed).toEqual([dirs[2]]);
    expect(result.failed).toEqual([
      { dir: dirs[1], error: expect.stringContaining(`${dirs[1]} no longer holds the catalog and state file of run ${list[2]!.runId}`) },
      { dir: dirs[0], error: expect.stringContaining('also holds "notes.txt", which vcbmounter did not write') },
    ]);
    // Nothing half-deleted, nothing renamed left behind; the refused ones are as they were.
    expect(readdirSync(parent).sort()).toEqual(['d1', 'd2', 'd4']);
    expect(readCatalog(dirs[1]!).runId).toBe(laterRun);
    expect(readFileSync(join(dirs[0]!, 'notes.txt'), 'utf8')).toBe('do not lose this');
    expect(readdirSync(dirs[3]!)).toContain('catalog');
    expect(log.lines.map((l) => [l.level, l.message])).toEqual([
      ['info', 'retention: deleted backup'],
      ['warn', 'retention: could not delete backup'],
      ['warn', 'retention: could not delete backup'],
    ]);
    expect(log.lines.filter((l) => l.level === 'info').map((l) => (l.fields as { dir: string }).dir)).toEqual([dirs[2]]);
  });

  test('a backup gone since the decision is reported as failed, and nothing else is touched', async () => {
    const parent = join(bench.work, 'gone', 'vm1');
    const dir = join(parent, 'only');
    await backupInto('vm1', dir);
    const [entry] = await listBackups(parent, { name: 'vm1' });
    rmSync(dir, { recursive: true });
    const result = await applyRetention({ keep: [], remove: [{ entry: entry!, reason: 'test' }], ignored: [] }, logSink(), { stateDir: bench.stateDir });
    expect(result.removed).toEqual([]);
    expect(result.failed).toEqual([{ dir, error: expect.stringMatching(/ENOENT|no such file/) }]);
    expect(existsSync(parent) && readdirSync(parent)).toEqual([]);
  });
});

test('-U removes a verified backup completely (the verification record is vcbmounter\'s file too)', async () => {
  const dir = join(bench.work, 'unmount-verified');
  await backupInto('vm1', dir);
  expect((await verifyBackup(dir)).ok).toBe(true);
  const u = await bench.cli(['-U', dir]);
  expect(u.exitCode, u.stderr).toBe(0);
  expect(existsSync(dir)).toBe(false);
});
