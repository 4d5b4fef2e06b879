// The fault matrix, generated from the job types' step lists: for every step × fault, a cell that injects the fault and checks every promise.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { fullvm } from '../../src/jobs/fullvm.js';
import { file } from '../../src/jobs/file.js';
import { readFile } from 'node:fs/promises';
import { fixtureImage, proxyLeftovers, sha256 } from '../mount/file-mount-helpers.js';
import { FAST_GUEST } from '../sim/integration/helpers.js';
import type { JobStep, JobType } from '../../src/jobs/index.js';
import { listOpenRuns, isProcessAlive } from '../../src/engine/index.js';
import { parseCatalog, verifyExport } from '../../src/export/index.js';
import { replayWrites } from '../../src/sim/guest/guest.js';
import type { FaultRule } from '../../src/sim/faults.js';
import type { Simulator } from '../../src/sim/simulator.js';
import { backupArgs, cli, expectGuestReleased, footprint, outDir, partialSiblings, SNAP, startBench, vmSpec, waitUntil, type Bench } from '../failures/helpers.js';

export const VM = 'vm1';

/**
 * The VM every cell backs up: a user snapshot to keep, guest scripts that must be released, a guest that keeps
 * writing. For -t file its first disk holds the Linux guest's file systems (the guest writes after them).
 */
export function matrixVm(type: JobType = fullvm): Record<string, unknown> {
  return vmSpec(VM, {
    snapshots: [{ name: 'user-snap', description: 'taken by the admin' }],
    quiesce: { backupScripts: [{ name: '10-flush' }], preFreeze: { exitCode: 0 }, postThaw: { exitCode: 0 } },
    ...(type.name === 'file'
      ? { disks: [{ size: '256M', thin: true, fixture: 'linux01-disk0' }, { size: '16M', fillBytes: '8M' }], guest: { ...FAST_GUEST, regionStart: '140M' } }
      : {}),
  });
}

/** A file the -t file cells read through the mount: the guest put it there before any snapshot. */
const MOUNTED_FILE = fixtureImage('linux01-disk0').files.find((f) => f.path === '/var/lib/app/data.bin')!;

/**
 * Bounds short enough that a hang is cut off in seconds, long enough that a loaded CI machine does not
 * trip them on healthy commands (a snapshot removal under a load of 10 on 2 cores has taken more than 4 s).
 * A late command completes after the client gave up (past both bounds) but within the settle window of a
 * create (two snapshot timeouts).
 */
export const TIMEOUTS = ['--snapshot-timeout', '6', '--command-timeout', '5', '--cleanup-timeout', '20'];
export const LATE_MS = 8_000;

/** The first host command a step ran in a fault-free run: the one a cell's fault hits. */
export interface StepTarget {
  line: string;
  /** Which occurrence of that exact command line it is (the fault rule's nth). */
  nth: number;
}

/** What the attribution reads of a job's steps: their names, in order, and the host commands each declares. */
export interface StepList {
  name: string;
  steps: ReadonlyArray<{ name: string; hostCommands: readonly string[] }>;
}

export interface Attribution {
  /** Step name → its first host command; absent for steps that ran none. */
  targets: Map<string, StepTarget>;
  /** Step name → every command it ran, each with its nth over the run (to check the step's declared hostCommands, or to aim a fault at it). */
  commands: Map<string, StepTarget[]>;
}

export interface Probe extends Attribution {
  type: JobType;
}

/** Step starts from the CLI's JSON log lines on stderr: `{"time":...,"step":"export",...}`. */
function stepStarts(stderr: string): Array<{ step: string; time: number }> {
  const starts: Array<{ step: string; time: number }> = [];
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { time?: number; step?: string; msg?: string };
      if (rec.step && rec.time && rec.msg && !starts.some((s) => s.step === rec.step)) starts.push({ step: rec.step, time: rec.time });
    } catch {
      continue;
    }
  }
  return starts;
}

/** Leaves what a run killed mid-export leaves (snapshot, partial directory, stale lock, open journal). */
export async function leaveInterruptedRun(bench: Bench): Promise<void> {
  bench.sim.faults.add({ match: '^dd ', action: 'slow', bytesPerSecond: 1024 * 1024, times: 1 });
  const child = cli(backupArgs(bench, VM, TIMEOUTS));
  await waitUntil(() => bench.sim.faults.fired.some((f) => f.argv[0] === 'dd'), 'the first run to start reading', 30_000);
  child.kill('SIGKILL');
  await child;
  bench.sim.faults.clear();
}

/**
 * Runs one fault-free backup and attributes each host command to the step that was running when it
 * started. With `afterInterruptedRun`, an earlier run of the VM was killed first (the steps that release
 * what it left then run host commands).
 */
export async function probe(type: JobType, opts: { afterInterruptedRun?: boolean } = {}): Promise<Probe> {
  return withoutTies((acceptTies) => probeOnce(type, opts, acceptTies));
}

/**
 * Times are whole milliseconds: a command that starts in the millisecond a step starts could be that step's or
 * the last of the step before. Such a run tells nothing for sure, so it is made again (five times at most).
 */
export async function withoutTies<T>(once: (acceptTies: boolean) => Promise<T | undefined>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const found = await once(false);
    if (found || attempt === 5) return found ?? (await once(true))!;
  }
}

function declares(type: StepList, step: string, line: string): boolean {
  return type.steps.find((s) => s.name === step)?.hostCommands.some((re) => new RegExp(re).test(line)) ?? false;
}

async function probeOnce(type: JobType, opts: { afterInterruptedRun?: boolean }, acceptTies = false): Promise<Probe | undefined> {
  const bench = await startBench([matrixVm(type)]);
  try {
    if (opts.afterInterruptedRun) await leaveInterruptedRun(bench);
    const r = await cli(backupArgs(bench, VM, ['-t', type.name, ...TIMEOUTS]));
    expect(r.exitCode, r.stderr).toBe(0);
    const endedAt = Date.now();
    // -t file leaves the volumes mounted: taken down here, its commands are not the run's.
    if (type.name === 'file') expect((await cli(['-U', outDir(bench, VM), ...bench.connect])).exitCode).toBe(0);
    const found = attribute(type, r.stderr, bench.sim.commandLog, endedAt, acceptTies);
    return found && { type, ...found };
  } finally {
    await bench.stop();
  }
}

/**
 * Attributes each host command a fault-free run logged to the step that was running when it started (the CLI's
 * JSON log lines on stderr say when each step started); undefined when a command started in the very millisecond
 * a step did and `acceptTies` is not set.
 */
export function attribute(type: StepList, stderr: string, log: Simulator['commandLog'], endedAt: number, acceptTies = false): Attribution | undefined {
  const starts = stepStarts(stderr);
  expect(starts.map((s) => s.step)).toEqual(type.steps.map((s) => s.name));
  const targets = new Map<string, StepTarget>();
  const commands = new Map<string, StepTarget[]>();
  const seen = new Map<string, number>();
  // Commands of the killed run may be logged late (when their channel closed): only this run's count.
  const ours = log.filter((x) => x.startedAt >= starts[0]!.time && x.startedAt <= endedAt).sort((a, b) => a.startedAt - b.startedAt);
  if (!acceptTies && ours.some((c) => starts.slice(1).some((s) => s.time === c.startedAt))) return undefined;
  for (const c of ours) {
    const line = c.argv.join(' ');
    const count = (seen.get(line) ?? 0) + 1;
    seen.set(line, count);
    const at = starts.findLastIndex((s) => s.time <= c.startedAt);
    let step = starts[Math.max(at, 0)]!.step;
    // In the millisecond a step starts, the command may as well be the last one of the step before
    // (causality only orders them to the millisecond): it goes to whichever of the two declares it.
    if (at > 0 && starts[at]!.time === c.startedAt && !declares(type, step, line) && declares(type, starts[at - 1]!.step, line)) step = starts[at - 1]!.step;
    if (!targets.has(step)) targets.set(step, { line, nth: count });
    commands.set(step, [...(commands.get(step) ?? []), { line, nth: count }]);
  }
  return { targets, commands };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Run ids differ from run to run (they are in the snapshot's description): matched as any word. */
const RUN_ID = /\d{8}T\d{6}Z-\d+-[0-9a-f]{6}/g;

/** A drill VM's name carries the time it was made (NAME-drill-YYYYMMDD-HHMMSS): matched as any such time. */
const DRILL_TIME = /-drill-\d{8}-\d{6}/g;

/** A fault rule on exactly the step's first command. */
export function ruleFor(target: StepTarget, rule: Omit<FaultRule, 'match' | 'nth'>): FaultRule {
  const line = escapeRegex(target.line).replace(RUN_ID, '\\S+').replace(DRILL_TIME, '-drill-\\d{8}-\\d{6}');
  return { match: `^${line}$`, nth: target.nth, ...rule } as FaultRule;
}

export interface Cell {
  bench: Bench;
  type: JobType;
  /** Guest disks before the run and where the guest's events start: to check that every write is kept. */
  initial: Buffer[];
  eventsFrom: number;
  before: ReturnType<typeof footprint>;
}

export async function startCell(faults: FaultRule[] = [], opts: { afterInterruptedRun?: boolean; type?: JobType } = {}): Promise<Cell> {
  const type = opts.type ?? fullvm;
  const bench = await startBench([matrixVm(type)]);
  const vm = bench.sim.esx.vm(VM);
  const cell = { bench, type, initial: [vm.readDisk(0), vm.readDisk(1)], eventsFrom: vm.guest.events.length, before: footprint(bench.sim, VM) };
  if (opts.afterInterruptedRun) await leaveInterruptedRun(bench);
  for (const f of faults) bench.sim.faults.add(f);
  return cell;
}

/** Starts a backup as a child process and resolves once the CLI logs that `step` started. */
export function backupUntilStep(cell: Cell, type: JobType, step: string, dir?: string) {
  const args = backupArgs(cell.bench, VM, ['-t', type.name, ...TIMEOUTS]);
  if (dir) args[args.indexOf('-r') + 1] = dir;
  return cliUntilStep(args, step);
}

/** Starts `vcbmounter <args>` as a child process and resolves once it logs that `step` started. */
export function cliUntilStep(args: string[], step: string) {
  const child = cli(args);
  let seen = '';
  const started = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      if (seen.includes(`"step":${JSON.stringify(step)}`)) resolve();
    });
    child.then(() => reject(new Error(`the run ended before step ${step} started:\n${seen}`)), reject);
  });
  started.catch(() => {});
  return { child, started };
}

/** stderr without the JSON log lines: the CLI's own message. */
export function message(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !l.startsWith('{'))
    .join('\n');
}

/**
 * Runs `vcbmounter cleanup` until it has nothing left to wait for: a create the host may still finish is
 * waited out (the cleanup says so), never assumed gone.
 */
export async function cleanupUntilSettled(cell: { bench: Bench }): Promise<void> {
  const giveUpAt = Date.now() + 30_000;
  for (;;) {
    const c = await cli(['cleanup', ...cell.bench.connect]);
    if (c.exitCode === 0) return;
    expect(c.stderr, 'cleanup may fail only while it waits for a create to settle').toContain('still waiting');
    if (Date.now() > giveUpAt) throw new Error(`cleanup still waiting after 30 s: ${c.stderr}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** On the host: no backup snapshot, the user's snapshot intact, guest scripts released, every guest write on the disk. */
function expectHostKept(cell: Cell): void {
  const { bench } = cell;
  const vm = bench.sim.esx.vm(VM);
  expect(vm.snapshots.filter((s) => s.name === SNAP), 'no _VCB-BACKUP_ snapshot remains').toEqual([]);
  expect(footprint(bench.sim, VM), 'user snapshots and disk files unchanged').toEqual(cell.before);
  expectGuestReleased(bench.sim, VM);
  vm.guest.stop();
  const now = replayWrites(cell.initial, vm.guest.events.slice(cell.eventsFrom), 5);
  for (let i = 0; i < 2; i++) expect(vm.readDisk(i).equals(now[i]!), `disk ${i} holds every guest write`).toBe(true);
}

/** In the state directory: no lock held by a live process, no open journal. */
export function expectNothingHeld(cell: { bench: Bench }): void {
  const { bench } = cell;
  const locks = join(bench.stateDir, 'locks');
  for (const name of existsSync(locks) ? readdirSync(locks) : []) {
    const info = JSON.parse(readFileSync(join(locks, name), 'utf8')) as { pid: number; startedAt: string };
    expect(isProcessAlive(info.pid, Date.parse(info.startedAt)), `lock ${name} is stale, not held`).toBe(false);
  }
  expect(listOpenRuns(bench.stateDir).map((r) => r.runId), 'no journal left open').toEqual([]);
}

/**
 * Every promise, after the run and whatever recovery its exit code calls for:
 * no backup snapshot, the user's snapshot intact, guest scripts released, every guest write on the disk,
 * no partial output (and a complete one verifies), no lock held by a live process, no open journal.
 */
export async function expectPromisesKept(cell: Cell, opts: { backupExpected: boolean; dir?: string }): Promise<void> {
  const { bench } = cell;
  const vm = bench.sim.esx.vm(VM);
  if (cell.type.name === 'file') {
    await expectMountsReleased(cell, opts);
    return;
  }
  expectHostKept(cell);
  const dir = opts.dir ?? outDir(bench, VM);
  expect(partialSiblings(dir), 'no partial or set-aside directory').toEqual([]);
  if (opts.backupExpected) {
    for (const d of await verifyExport(dir)) expect(d.ok, `${d.descriptorFile} verifies against its catalog`).toBe(true);
    // The export is the disk at the snapshot instant, byte for byte, whatever the run went through.
    const events = vm.guest.events.slice(cell.eventsFrom);
    const snapAt = events.findLastIndex((e) => e.ev === 'marker' && e.what === 'snapshot.created');
    expect(snapAt, 'the guest saw the snapshot').toBeGreaterThanOrEqual(0);
    const atSnapshot = replayWrites(cell.initial, events, 5, snapAt);
    const catalog = parseCatalog(readFileSync(join(dir, 'catalog'), 'utf8'));
    for (const [i, d] of catalog.disks.entries()) {
      const flat = Buffer.concat(d.extentFiles.map((f) => readFileSync(join(dir, f))));
      expect(flat.equals(atSnapshot[i]!), `exported disk ${i} equals the guest's disk at the snapshot`).toBe(true);
    }
  } else {
    expect(existsSync(dir), 'no output where the backup failed').toBe(false);
  }
  expectNothingHeld(cell);
}

/** The job types whose signal cells (SIGINT, SIGTERM, SIGKILL then cleanup or the next run) are generated. */
export const JOB_TYPES = { fullvm, file };

/**
 * The job types whose host-fault and destination-full cells are generated. -t file's are not yet: its disk
 * server reads the host in the background, so which step a read belongs to is not fixed (see docs/reliability.md);
 * test/cli/file-mount-faults.test.ts covers its host faults.
 */
export const EXPORT_TYPES = { fullvm };

/**
 * -t file: a complete run's volumes show the guest's files as they were at the snapshot and -U takes them down;
 * then, whatever happened, the promises of every run, and nothing of the run left on this proxy.
 */
async function expectMountsReleased(cell: Cell, opts: { backupExpected: boolean; dir?: string }): Promise<void> {
  const { bench } = cell;
  const dir = opts.dir ?? outDir(bench, VM);
  if (opts.backupExpected) {
    // Asynchronous: the simulated host serving the mount runs in this process.
    expect(sha256(await readFile(join(dir, 'names/root', MOUNTED_FILE.path))), 'a file read through the mount').toBe(MOUNTED_FILE.sha256);
    const u = await cli(['-U', dir, ...bench.connect]);
    expect(u.exitCode, message(u.stderr)).toBe(0);
  }
  expect(existsSync(dir), 'no mount directory left').toBe(false);
  expect(await proxyLeftovers(bench.tmp), 'no mount, loop device or process left on the proxy').toEqual([]);
  expectHostKept(cell);
  expectNothingHeld(cell);
}

export { waitUntil, cli, backupArgs, outDir, type Bench, type JobStep, type JobType, type Simulator };
