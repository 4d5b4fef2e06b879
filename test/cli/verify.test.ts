// vcbmounter verify as a process: real exports made by the CLI against the simulated host, damaged on disk in the ways
// a backup gets damaged, each damage reported with its file and byte offset; and a job file's verify after each backup.

import { chmodSync, existsSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { randomFillSync } from 'node:crypto';
import { parseInventory } from '../../src/sim/inventory.js';
import { isVerified, VERIFIED_FILE, type ExportVerification, type VerifyProblem } from '../../src/export/index.js';
import type { RunSummary } from '../../src/jobfile/summary-types.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { toVersion1 } from '../export/legacy-export.js';
import { readCatalog, startBench, type Bench, type CliResult } from './cli-helpers.js';

const MiB = 1024 * 1024;
const IDLE = { writesPerSecond: 0 };
/** Blocks of the thin disk written before the backup, besides its first MiB: scattered, with holes between. */
const THIN_BLOCKS = [5, 17, 18, 33];

let bench: Bench;
let thick: string;
let thin: string;
let copies = 0;

beforeAll(async () => {
  bench = await startBench(
    parseInventory({
      host: {},
      seed: 7,
      datastores: [{ name: 'ds1', capacity: '512M' }],
      vms: [
        { name: 'thick01', vmid: 51, power: 'off', disks: [{ size: '12M', thin: false, fillBytes: '12M' }, { size: '3M', thin: false, fillBytes: '2M' }], guest: IDLE },
        { name: 'thin01', vmid: 52, power: 'off', disks: [{ size: '40M', thin: true, fillBytes: '1M' }], guest: IDLE },
      ],
    }),
  );
  const vfs = bench.sim.esx.vfs;
  const flat = vfs.open(vfs.canonical('[ds1] thin01/thin01-flat.vmdk'));
  for (const block of THIN_BLOCKS) flat.write(randomFillSync(Buffer.alloc(MiB)), block * MiB);
  thick = join(bench.work, 'thick01');
  thin = join(bench.work, 'thin01');
  for (const [vm, dir] of [['thick01', thick], ['thin01', thin]] as const) {
    const r = await bench.cli(['-a', `name:${vm}`, '-r', dir]);
    expect(r.exitCode, r.stderr).toBe(0);
  }
}, 90_000);
afterAll(async () => bench?.stop());

function verify(dir: string, ...flags: string[]): Promise<CliResult> {
  return bench.cli(['verify', dir, ...flags], { bare: true });
}

/** A copy of an export (holes kept), to damage without touching the original. */
async function copyOf(dir: string): Promise<string> {
  const copy = join(bench.work, `copy-${++copies}`);
  await execa('cp', ['-a', '--sparse=always', dir, copy]);
  return copy;
}

async function verifyJson(dir: string, ...flags: string[]): Promise<{ r: CliResult; result: ExportVerification & { rate: number; record: string | null; recordRemoved: boolean } }> {
  const r = await verify(dir, '--json', ...flags);
  return { r, result: JSON.parse(r.stdout) };
}

/** Offsets (in the virtual disk) of the blocks a disk's block list has. */
function listedBlocks(dir: string, blocksFile: string): number[] {
  return readFileSync(join(dir, blocksFile), 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[0]));
}

function flipByte(path: string, offset: number): void {
  const data = readFileSync(path);
  data[offset] = data[offset]! ^ 0xff;
  writeFileSync(path, data);
}

const kinds = (problems: VerifyProblem[]) => problems.map((p) => p.kind);

describe('vcbmounter verify', () => {
  test('a clean export verifies: exit 0, a short summary, and the record that job files\' retention counts', async () => {
    const dir = await copyOf(thick);
    expect(existsSync(join(dir, VERIFIED_FILE))).toBe(false);
    const r = await verify(dir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verified .*copy-\d+ \(VM thick01, run /);
    expect(r.stdout).toContain('scsi0:0 thick01.vmdk: 12.0 MiB disk, 12 block(s) listed, 12.0 MiB read: ok');
    expect(r.stdout).toContain('scsi0:1 thick01_1.vmdk: 3.0 MiB disk, 2 block(s) listed, 2.0 MiB read: ok');
    expect(r.stdout).toMatch(/read 14\.0 MiB \(the allocated blocks of 15\.0 MiB of disks\) in [\d.]+ s, [\d.]+ [KMG]?i?B\/s/);
    expect(r.stdout).toContain('files present (the catalog holds no checksum for them): thick01.vmx');
    expect(r.stdout).toContain(`recorded in ${join(dir, VERIFIED_FILE)}`);
    expect(await isVerified(dir, readCatalog(dir))).toBe(true);
    // No progress bar without a terminal (cron): stderr stays empty.
    expect(r.stderr).toBe('');
  });

  test('each line of a block list is the xxh64 of its 1 MiB block, as `dd | xxhsum -H1` gives it by hand', async () => {
    const catalog = readCatalog(thick);
    expect(catalog).toMatchObject({ version: 2, disks: [{ blockHash: 'xxh64', blocksFile: 'thick01.blocks.xxh64' }, { blockHash: 'xxh64' }] });
    const lines = readFileSync(join(thick, 'thick01.blocks.xxh64'), 'utf8').trim().split('\n');
    for (const line of [lines[0]!, lines[7]!]) {
      const [offset, listed] = line.split(' ');
      const block = Number(offset) / MiB;
      const { stdout } = await execa('sh', ['-c', `dd if=thick01-flat.vmdk bs=1M skip=${block} count=1 status=none | xxhsum -H1`], { cwd: thick });
      expect(stdout.split(/\s+/)[0], line).toBe(listed);
    }
  });

  test('an export written before xxh64 (catalog version 1, sha256 block lists) verifies, and a flipped byte in it is found', async () => {
    const dir = await copyOf(thick);
    toVersion1(dir);
    expect(readCatalog(dir)).toMatchObject({ version: 1, disks: [{ blocksFile: 'thick01.blocks.sha256' }, { blocksFile: 'thick01_1.blocks.sha256' }] });
    const r = await verify(dir, '--no-record');
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('scsi0:0 thick01.vmdk: 12.0 MiB disk, 12 block(s) listed, 12.0 MiB read: ok');
    flipByte(join(dir, 'thick01_1-flat.vmdk'), MiB + 7);
    const { r: bad, result } = await verifyJson(dir, '--no-record');
    expect(bad.exitCode).toBe(7);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'block-mismatch', file: 'thick01_1-flat.vmdk', offset: MiB, disk: 'thick01_1.vmdk' })]);
    expect(result.problems[0]!.message).toMatch(/\(sha256 [0-9a-f]{64}, listed [0-9a-f]{64} at thick01_1\.blocks\.sha256 byte \d+\)/);
  });

  test('--no-record checks without writing the record', async () => {
    const dir = await copyOf(thick);
    const r = await verify(dir, '--no-record');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(dir, VERIFIED_FILE))).toBe(false);
  });

  test('a flipped byte in a flat extent: the block, its file and offset; exit 7, and an earlier record is removed', async () => {
    const dir = await copyOf(thick);
    expect((await verify(dir)).exitCode).toBe(0);
    expect(existsSync(join(dir, VERIFIED_FILE))).toBe(true);
    const at = 7 * MiB + 12345;
    flipByte(join(dir, 'thick01-flat.vmdk'), at);
    const r = await verify(dir);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toContain('NOT verified');
    expect(r.stdout).toContain(`thick01-flat.vmdk @ byte ${7 * MiB} (+${MiB}): block at disk byte ${7 * MiB} differs from its line in the block list`);
    expect(r.stderr).toMatch(/vcbmounter: verify: .* does not match its catalog \(1 problem\(s\), listed above\)/);
    expect(r.stdout).toContain('removed the earlier verification record');
    expect(existsSync(join(dir, VERIFIED_FILE))).toBe(false);
    const { result } = await verifyJson(dir);
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'block-mismatch', file: 'thick01-flat.vmdk', offset: 7 * MiB, length: MiB, disk: 'thick01.vmdk', diskOffset: 7 * MiB }),
    ]);
    expect(result.disks.map((d) => [d.descriptorFile, d.ok, d.badBlocks])).toEqual([
      ['thick01.vmdk', false, [7 * MiB]],
      ['thick01_1.vmdk', true, []],
    ]);
  });

  test('a truncated extent: the file, where its bytes end, and how many listed blocks are gone with them', async () => {
    const dir = await copyOf(thick);
    const cut = 9 * MiB + 100;
    truncateSync(join(dir, 'thick01-flat.vmdk'), cut);
    const { r, result } = await verifyJson(dir);
    expect(r.exitCode).toBe(7);
    // Block 9 (partly there, the rest reading as zeros) differs; blocks 10 and 11 are gone with the cut.
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'truncated-extent', file: 'thick01-flat.vmdk', offset: cut, length: 12 * MiB - cut }),
      expect.objectContaining({ kind: 'block-mismatch', file: 'thick01-flat.vmdk', offset: 9 * MiB }),
    ]);
    expect(result.problems[0]!.message).toContain(`the file holds ${cut} bytes, its descriptor says ${12 * MiB}`);
    expect(result.problems[0]!.message).toContain('2 block(s) the block list has lie there');
    expect(result.disks[0]!.badBlocks).toEqual([9 * MiB, 10 * MiB, 11 * MiB]);
  });

  test('missing files: a small VM file, a block list and a whole extent, each named', async () => {
    const dir = await copyOf(thick);
    const catalog = readCatalog(dir);
    const nvram = catalog.files.find((f) => f.endsWith('.nvram'))!;
    unlinkSync(join(dir, nvram));
    unlinkSync(join(dir, 'thick01_1-flat.vmdk'));
    unlinkSync(join(dir, 'thick01.blocks.xxh64'));
    const { r, result } = await verifyJson(dir);
    expect(r.exitCode).toBe(7);
    const byFile = Object.fromEntries(result.problems.map((p) => [p.file, p]));
    expect(byFile[nvram]).toMatchObject({ kind: 'missing-file', message: 'a file the catalog lists is missing' });
    expect(byFile['thick01_1-flat.vmdk']).toMatchObject({ kind: 'missing-file', disk: 'thick01_1.vmdk' });
    expect(byFile['thick01_1-flat.vmdk']!.message).toContain('2 block(s) the block list has lie there');
    // Without its block list the first disk is still read, and matches the catalog's digest.
    expect(byFile['thick01.blocks.xxh64']).toMatchObject({ kind: 'missing-file', disk: 'thick01.vmdk' });
    expect(kinds(result.problems).sort()).toEqual(['missing-file', 'missing-file', 'missing-file']);
    expect(result.disks[0]!.actualDigest).toBe(catalog.disks[0]!.digest);
    expect(result.files.find((f) => f.file === nvram)).toEqual({ file: nvram, ok: false });
  });

  test('a broken descriptor: an extent line naming another file, and one that does not parse, each at its byte offset', async () => {
    const dir = await copyOf(thick);
    const path = join(dir, 'thick01.vmdk');
    const text = readFileSync(path, 'utf8');
    const line = text.indexOf('RW ');
    writeFileSync(path, text.replace('"thick01-flat.vmdk"', '"elsewhere-flat.vmdk"'));
    let { r, result } = await verifyJson(dir);
    expect(r.exitCode).toBe(7);
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'broken-descriptor', file: 'thick01.vmdk', offset: line, message: 'extent 1 names "elsewhere-flat.vmdk", the catalog lists "thick01-flat.vmdk"' }),
    ]);
    // The data is still read through the layout the catalog gives, and matches.
    expect(result.disks[0]!.actualDigest).toBe(result.disks[0]!.expectedDigest);

    writeFileSync(path, text.replace(/RW (\d+) FLAT/, 'RW x$1 FLAT'));
    ({ r, result } = await verifyJson(dir));
    expect(r.exitCode).toBe(7);
    expect(result.problems).toEqual([expect.objectContaining({ kind: 'broken-descriptor', file: 'thick01.vmdk', offset: line })]);
    expect(result.problems[0]!.message).toMatch(/^does not parse: malformed extent line at line \d+/);
  });

  test('a damaged block list: a changed line, at its offset in the list, and the list no longer the catalog\'s', async () => {
    const dir = await copyOf(thick);
    const path = join(dir, 'thick01.blocks.xxh64');
    const text = readFileSync(path, 'utf8');
    const second = text.indexOf('\n') + 1;
    writeFileSync(path, text.slice(0, second) + 'garbage\n' + text.slice(text.indexOf('\n', second) + 1));
    const { r, result } = await verifyJson(dir);
    expect(r.exitCode).toBe(7);
    // The block list's own problems come after the data's (the list is judged once it has been read through).
    expect(result.problems).toEqual([
      // The block that line stood for now holds data the list lacks.
      expect.objectContaining({ kind: 'extra-block', file: 'thick01-flat.vmdk', offset: MiB }),
      expect.objectContaining({ kind: 'block-list', file: 'thick01.blocks.xxh64', offset: second, message: 'line is not "<offset> <xxh64>": "garbage"' }),
      expect.objectContaining({ kind: 'block-list', file: 'thick01.blocks.xxh64', message: expect.stringContaining("does not match the catalog's digest") }),
    ]);
  });

  test('a thin export: only the allocated blocks are read; a block punched out and data written into a hole are both found', async () => {
    const clean = await verifyJson(thin);
    expect(clean.r.exitCode, clean.r.stderr).toBe(0);
    const blocks = listedBlocks(thin, 'thin01.blocks.xxh64');
    expect(blocks).toEqual([0, ...THIN_BLOCKS].map((b) => b * MiB));
    expect(clean.result.bytesTotal).toBe(40 * MiB);
    expect(clean.result.bytesAllocated).toBe(5 * MiB);
    expect(clean.result.bytesRead).toBe(5 * MiB);
    const flatPath = join(thin, 'thin01-flat.vmdk');
    expect(statSync(flatPath).blocks * 512, 'the export is sparse').toBeLessThan(8 * MiB);

    const dir = await copyOf(thin);
    const flat = join(dir, 'thin01-flat.vmdk');
    await execa('fallocate', ['--punch-hole', '--offset', String(17 * MiB), '--length', String(MiB), flat]);
    const extra = Buffer.from('not in the list');
    const handle = await import('node:fs/promises').then((fs) => fs.open(flat, 'r+'));
    await handle.write(extra, 0, extra.length, 25 * MiB + 4096);
    await handle.close();
    const { r, result } = await verifyJson(dir);
    expect(r.exitCode).toBe(7);
    expect(result.problems).toEqual([
      expect.objectContaining({ kind: 'missing-block', file: 'thin01-flat.vmdk', offset: 17 * MiB, length: MiB }),
      expect.objectContaining({ kind: 'extra-block', file: 'thin01-flat.vmdk', offset: 25 * MiB, length: MiB }),
    ]);
    expect(result.problems[0]!.message).toContain('thin01.blocks.xxh64 byte');
    expect(result.bytesRead).toBe(5 * MiB);
  });

  test('--json: the whole result for scripts', async () => {
    const { r, result } = await verifyJson(thin, '--no-record');
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    const catalog = readCatalog(thin);
    expect(result).toEqual({
      dir: thin,
      ok: true,
      runId: catalog.runId,
      vm: 'thin01',
      disks: [
        {
          descriptorFile: 'thin01.vmdk',
          slot: 'scsi0:0',
          capacity: 40 * MiB,
          ok: true,
          expectedDigest: catalog.disks[0]!.digest,
          actualDigest: catalog.disks[0]!.digest,
          badBlocks: [],
          blocksListed: 5,
          bytesRead: 5 * MiB,
          problems: [],
          problemsOmitted: 0,
        },
      ],
      files: [catalog.vm.vmxFile, ...catalog.files].map((file) => ({ file, ok: true, bytes: statSync(join(thin, file)).size })),
      problems: [],
      problemsOmitted: 0,
      bytesTotal: 40 * MiB,
      bytesAllocated: 5 * MiB,
      bytesRead: 5 * MiB,
      durationMs: expect.any(Number),
      rate: expect.any(Number),
      record: null,
      recordRemoved: false,
    });
  });

  test('usage errors exit 2: no such directory, a file, a directory without a catalog, a catalog that does not parse', async () => {
    const missing = await verify(join(bench.work, 'nowhere'));
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('nowhere: no such directory; expected a fullvm export directory made by vcbmounter');
    const file = join(bench.work, 'a-file');
    writeFileSync(file, 'x');
    expect((await verify(file)).stderr).toContain('is not a directory');
    const empty = await copyOf(thin);
    rmSync(join(empty, 'catalog'));
    const noCatalog = await verify(empty, '--json');
    expect(noCatalog.exitCode).toBe(2);
    expect(JSON.parse(noCatalog.stdout)).toMatchObject({ ok: false, error: { code: 'USAGE', message: expect.stringContaining('has no readable catalog') } });
    writeFileSync(join(empty, 'catalog'), '{"format":"vcbmounter-catalog"}');
    const bad = await verify(empty);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('is not a vcbmounter catalog (field');
    expect((await bench.cli(['verify'], { bare: true })).exitCode).toBe(2);
  });
});

describe('a job file\'s verify: true', () => {
  test('a backup damaged before its verify fails at verify with the file and offset in the summary, gets no record, and is not counted', async () => {
    const hook = join(bench.work, 'damage.sh');
    // At backup-end (the export published, before the job file's verify) one byte of the flat file flips.
    writeFileSync(hook, `#!/bin/sh\nif [ "$1" = backup-end ]; then printf 'X' | dd of="$VCB_DIR/thick01-flat.vmdk" bs=1 seek=${3 * MiB + 7} conv=notrunc status=none; fi\n`);
    chmodSync(hook, 0o755);
    const passwordFile = join(bench.work, 'esx.pass');
    writeFileSync(passwordFile, `${bench.sim.password}\n`, { mode: 0o600 });
    const job = join(bench.work, 'job.yaml');
    const write = (withHook: boolean) =>
      writeFileSync(
        job,
        `hosts:
  esx:
    address: 127.0.0.1
    port: ${bench.sim.port}
    user: root
    passwordFile: ${passwordFile}
    hostKey: ${bench.sim.fingerprint}
defaults:
  destination: ${bench.work}/job-backups/{vm}/{time}
  verify: true
  keep: { last: 1 }
  retries: { attempts: 0 }
${withHook ? `  hook: ${hook}\n` : ''}stateDir: ${bench.stateDir}
vms:
  - host: esx
    select: ["name:thick01"]
`,
      );
    const run = async () => {
      const c = binCommand(['run', job, '--json', '--no-notify']);
      const r = await execa(c.command, c.args, { reject: false, input: '' });
      return { exitCode: r.exitCode, summary: JSON.parse(String(r.stdout)) as RunSummary, stderr: String(r.stderr) };
    };
    write(false);
    const good = await run();
    expect(good.exitCode, good.stderr).toBe(0);
    expect(good.summary.vms[0]).toMatchObject({ result: 'ok', verified: true });
    const goodDir = good.summary.vms[0]!.dir!;
    expect(existsSync(join(goodDir, VERIFIED_FILE))).toBe(true);

    write(true);
    const bad = await run();
    expect(bad.exitCode).toBe(13);
    const vm = bad.summary.vms[0]!;
    expect(vm).toMatchObject({ result: 'failed', failedStep: 'verify', exitCode: 7 });
    expect(vm.verifyProblems).toEqual([expect.objectContaining({ kind: 'block-mismatch', file: 'thick01-flat.vmdk', offset: 3 * MiB, length: MiB })]);
    expect(vm.error).toContain(`thick01-flat.vmdk @ byte ${3 * MiB} (+${MiB}): block at disk byte ${3 * MiB} differs`);
    expect(existsSync(join(vm.dir!, VERIFIED_FILE))).toBe(false);
    // keep: { last: 1 } keeps the verified backup: the damaged one does not count.
    expect(existsSync(goodDir)).toBe(true);
  }, 90_000);
});
