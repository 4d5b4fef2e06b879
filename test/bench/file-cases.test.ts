// The -t file cases of npm run bench: their flags, the guest volume they read, the host-side accounting and the report rows.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { needsExportDisks, parseBenchArgs, runsGroup } from '../../tools/bench/args.js';
import { hostReadsBetween, stepDurations, stepTimes } from '../../tools/bench/file-cases.js';
import { buildGuestDisk, eachDataPiece, planFileBytes, planGuestVolume, VOLUME_START } from '../../tools/bench/guest-volume.js';
import { FILE_RESULTS_END, FILE_RESULTS_START, RESULTS_END, RESULTS_START, resultsMarkdown, writeResultsIntoDocs } from '../../tools/bench/report.js';

const MIB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'vcb-bench-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flags', () => {
  it('sizes the volumes small with --quick, at least 1 GiB for the throughput case otherwise, and takes --volume-sizes', () => {
    expect([parseBenchArgs(['--quick']).volumeSmall, parseBenchArgs(['--quick']).volumeLarge]).toEqual([64 * MIB, 256 * MIB]);
    expect([parseBenchArgs([]).volumeSmall, parseBenchArgs([]).volumeLarge]).toEqual([256 * MIB, 1024 * MIB]);
    const a = parseBenchArgs(['--volume-sizes', '128M,2G']);
    expect([a.volumeSmall, a.volumeLarge]).toEqual([128 * MIB, 2048 * MIB]);
    expect(() => parseBenchArgs(['--volume-sizes', '128M'])).toThrow(/--volume-sizes : expected a size/);
  });

  it('runs every group of cases unless --only names one', () => {
    expect(runsGroup(parseBenchArgs([]), 'export')).toBe(true);
    expect(runsGroup(parseBenchArgs([]), 'file')).toBe(true);
    expect(runsGroup(parseBenchArgs([]), 'stream')).toBe(true);
    expect(runsGroup(parseBenchArgs(['--only', 'stream']), 'export')).toBe(false);
    expect(needsExportDisks(parseBenchArgs(['--only', 'stream']))).toBe(true);
    expect(needsExportDisks(parseBenchArgs(['--only', 'file']))).toBe(false);
    expect(runsGroup(parseBenchArgs(['--only', 'file']), 'export')).toBe(false);
    expect(runsGroup(parseBenchArgs(['--only', 'file']), 'file')).toBe(true);
    expect(runsGroup(parseBenchArgs(['--only', 'export']), 'file')).toBe(false);
    expect(() => parseBenchArgs(['--only', 'san'])).toThrow(/^--only san: expected export \(rows 1 to 4\), file \(rows 5 to 7\), stream \(rows 8 to 10\)/);
  });
});

describe('the guest volume', () => {
  it('holds the bytes asked for, in many files of sizes from a few bytes to tens of MiB, the same for the same seed', () => {
    const plan = planGuestVolume(256 * MIB, 7);
    const bytes = planFileBytes(plan);
    expect(bytes).toBeGreaterThan(255 * MIB);
    expect(bytes).toBeLessThan(257 * MIB);
    const sizes = plan.files.map((f) => f.size);
    expect(plan.files.length).toBeGreaterThan(2000);
    expect(sizes.filter((s) => s < 4096).length).toBeGreaterThan(1000);
    expect(sizes.filter((s) => s >= 16 * MIB).length).toBeGreaterThan(0);
    expect(new Set(plan.files.map((f) => f.path)).size).toBe(plan.files.length);
    expect(planGuestVolume(256 * MIB, 7)).toEqual(plan);
    expect(planGuestVolume(256 * MIB, 8).files).not.toEqual(plan.files);
    // Room for ext4's own blocks, and about a tenth free; the disk adds the GPT's two MiB.
    expect(plan.volumeSize).toBeGreaterThan(bytes * 1.1);
    expect(plan.volumeSize % MIB).toBe(0);
    expect(plan.diskSize).toBe(plan.volumeSize + 2 * MIB);
  });

  it.skipIf(spawnSync('mke2fs', ['-V']).status !== 0 || spawnSync('sfdisk', ['--version']).status !== 0)(
    'is a GPT disk whose one partition holds a clean ext4 volume labelled root with every file; only its data pieces are written',
    () => {
      const plan = planGuestVolume(8 * MIB, 3);
      const image = join(dir, 'guest.img');
      buildGuestDisk(plan, image, dir);
      expect(statSync(image).size).toBe(plan.diskSize);
      const table = (JSON.parse(execFileSync('sfdisk', ['--json', image], { encoding: 'utf8' })) as { partitiontable: { label: string; partitions: Array<{ start: number; size: number }> } }).partitiontable;
      expect(table.label).toBe('gpt');
      expect(table.partitions.map((p) => [p.start * 512, p.size * 512])).toEqual([[VOLUME_START, plan.volumeSize]]);
      const fsck = spawnSync('e2fsck', ['-fn', `${image}?offset=${VOLUME_START}`], { encoding: 'utf8' });
      expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
      const dirs = new Set(['etc']);
      for (const f of plan.files) for (let d = f.path; d.includes('/'); ) dirs.add((d = d.slice(0, d.lastIndexOf('/'))));
      // Inodes in use: the files, /etc's two, the directories, and ext4's first 11 (the root directory and lost+found among them).
      expect(fsck.stdout).toMatch(new RegExp(`^root: ${plan.files.length + 2 + dirs.size + 11}/`, 'm'));
      const pieces: number[] = [];
      const written = eachDataPiece(image, (offset) => pieces.push(offset));
      expect(written).toBe(pieces.length * MIB);
      expect(written).toBeGreaterThan(planFileBytes(plan));
      expect(written).toBeLessThan(plan.diskSize);
      const zeros = Buffer.alloc(MIB);
      const all = readFileSync(image);
      for (let at = 0; at < all.length; at += MIB) expect(pieces.includes(at), `piece at ${at}`).toBe(!all.subarray(at, at + MIB).equals(zeros.subarray(0, Math.min(MIB, all.length - at))));
    },
  );
});

describe('what the host served', () => {
  const record = (session: number, argv: string[], startedAt: number, endedAt: number) => ({ session, argv, startedAt, endedAt, exitCode: 0 });

  it('sums the dd commands started within the window, by command line, with the time some line ran', () => {
    const log = [
      record(1, ['dd', 'if=/x', 'bs=1048576', 'skip=0', 'count=1'], 900, 950), // before the window
      record(2, ['dd', 'if=/x', 'bs=1048576', 'skip=4', 'count=8'], 1000, 1200),
      record(3, ['dd', 'if=/x', 'bs=1048576', 'skip=20', 'count=2'], 1100, 1300),
      record(3, ['dd', 'if=/x', 'bs=1048576', 'skip=30', 'count=1'], 1300, 1400),
      record(4, ['cat', '/vmfs/volumes/ds/vm/vm.vmx'], 1500, 1510),
      record(5, ['dd', 'if=/x', 'bs=512', 'skip=0', 'count=8'], 1600, 1700),
      record(6, ['dd', 'if=/x', 'bs=1048576', 'skip=0', 'count=1'], 2500, 2600), // after it
    ];
    expect(hostReadsBetween(log, 1000, 2000)).toEqual({ bytes: 11 * MIB + 4096, commands: 4, lines: 3, busy: 0.5, lineSeconds: 0.2 + 0.3 + 0.1 });
    expect(hostReadsBetween([], 0, 1)).toEqual({ bytes: 0, commands: 0, lines: 0, busy: 0, lineSeconds: 0 });
  });

  it('reads the step start times off the CLI\'s JSON log and says how long each took', () => {
    const stderr = [
      '{"level":30,"time":1000500,"step":"proxy","msg":"check"}',
      '{"level":20,"time":1000600,"msg":"connected"}',
      'not json',
      '{"level":30,"time":1001000,"step":"snapshot","msg":"create"}',
      '{"level":30,"time":1004500,"step":"serve","msg":"serve"}',
    ].join('\n');
    const steps = stepTimes(stderr, 1000000);
    expect(steps).toEqual([
      { step: 'proxy', at: 0.5 },
      { step: 'snapshot', at: 1 },
      { step: 'serve', at: 4.5 },
    ]);
    expect(stepDurations({ steps: [...steps, { step: 'exit', at: 5 }] })).toBe('start-up 0.50 s, proxy 0.50 s, snapshot 3.50 s, serve 0.50 s');
  });
});

describe('the report', () => {
  const overhead = {
    title: 'first file', kind: 'overhead' as const, ratio: 2.5, target: 3, pass: true, notes: ['a note'],
    subject: { label: 'vcbmounter', seconds: 6 }, baseline: { label: 'snapshot create', seconds: 3.5 },
  };

  it('prints the time beyond the baseline for an overhead, and numbers the -t file rows from 5', () => {
    const md = resultsMarkdown('npm run bench -- --only file', [overhead], [], 5);
    expect(md).toContain('| 5. first file | vcbmounter: 6.00 s | snapshot create: 3.50 s | +2.50 s | ≤ +3 s | PASS |');
    expect(md).toContain('- 5: a note');
    expect(resultsMarkdown('c', [{ ...overhead, ratio: -0.25 }], [])).toContain('| −0.25 s |');
  });

  it('rewrites each group\'s block of the docs alone', () => {
    const docs = join(dir, 'benchmarks.md');
    writeFileSync(docs, `# B\n\n${RESULTS_START}\nold export\n${RESULTS_END}\n\ntext\n\n${FILE_RESULTS_START}\nold file\n${FILE_RESULTS_END}\n`);
    writeResultsIntoDocs(docs, 'new file', { start: FILE_RESULTS_START, end: FILE_RESULTS_END });
    expect(readFileSync(docs, 'utf8')).toBe(`# B\n\n${RESULTS_START}\nold export\n${RESULTS_END}\n\ntext\n\n${FILE_RESULTS_START}\nnew file\n${FILE_RESULTS_END}\n`);
    writeResultsIntoDocs(docs, 'new export');
    expect(readFileSync(docs, 'utf8')).toContain(`${RESULTS_START}\nnew export\n${RESULTS_END}`);
    expect(readFileSync(docs, 'utf8')).toContain('new file');
  });
});
