// Rows 11 and 12: `vcbmounter run JOB.yaml` over many small VMs of one host at realistic hostd timings, one and four
// at a time, against a POSIX shell loop of one `vcbmounter` process per VM.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binCommand } from '../test-support/bin-command.js';
import { REALISTIC_TIMING } from '../../src/sim/esx/hostd-timing.js';
import { parseInventory, type Inventory } from '../../src/sim/inventory.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import type { RunSummary } from '../../src/jobfile/summary-types.js';
import { shellQuote } from '../../src/util/shell-quote.js';
import type { BenchArgs } from './args.js';
import { best, mib, type Comparison, type Log } from './cases.js';
import type { BenchHost } from './fixture.js';
import { runChild, type RunResult } from './measure.js';

const MIB = 1024 * 1024;

/** The job's VMs: how many, and each one's single thin disk and the bytes written in it. */
export interface JobFleet {
  count: number;
  diskSize: number;
  written: number;
}

/** 20 VMs of 8 MiB disks (4 MiB written), as the issue asks; --quick: 8 of 4 MiB (2 MiB written), two rounds of four slots. */
export function jobFleet(args: Pick<BenchArgs, 'quick'>): JobFleet {
  return args.quick ? { count: 8, diskSize: 4 * MIB, written: 2 * MIB } : { count: 20, diskSize: 8 * MIB, written: 4 * MIB };
}

/** The slots of row 12: the job file's total, perHost and perDatastore (one host, one datastore: all three must allow it). */
export const PARALLEL_SLOTS = 4;

function vmName(i: number): string {
  return `job-vm${String(i + 1).padStart(2, '0')}`;
}

/**
 * One host (ESXi, one datastore) with `fleet.count` running VMs with VMware Tools, so each snapshot quiesces as
 * a nightly backup's of a running server does. The guests write nothing: the disks' bytes stay the same from run
 * to run. The timing is set to realistic here, whatever $VCBMOUNTER_SIM_TIMING says.
 */
export function jobInventory(fleet: JobFleet): Inventory {
  const vms = Array.from({ length: fleet.count }, (_, i) => ({
    name: vmName(i),
    power: 'on',
    guest: { writesPerSecond: 0 },
    disks: [{ size: fleet.diskSize, thin: true, fillBytes: fleet.written }],
  }));
  return parseInventory({
    host: { kind: 'esxi', hostname: 'esx-jobs.local', timing: 'realistic' },
    datastores: [{ name: 'datastore1', capacity: Math.ceil((fleet.count * fleet.diskSize * 2) / MIB) * MIB + 1024 * MIB }],
    vms,
  });
}

interface JobHost {
  sim: Simulator;
  passwordFile: string;
  stateDir: string;
}

let runCounter = 0;

/** The job file of `slots` at a time; every limit allows that many (one host, one datastore). */
function writeJobFile(job: JobHost, dest: string, slots: number, path: string): void {
  writeFileSync(
    path,
    `hosts:
  bench:
    address: 127.0.0.1
    port: ${job.sim.port}
    user: root
    passwordFile: ${job.passwordFile}
    hostKey: ${job.sim.fingerprint}
defaults:
  type: fullvm
  mode: nbd
  destination: ${dest}/{vm}/{time}
  # The loop does not verify its exports either: both sides do the same work.
  verify: false
concurrency: { total: ${slots}, perHost: ${slots}, perDatastore: ${slots} }
stateDir: ${job.stateDir}
vms:
  - host: bench
    select: ["name:job-vm*"]
`,
    { mode: 0o600 },
  );
}

/** Checks that every VM has exactly one new backup directory under `dest`, then removes them. */
function checkAndRemoveBackups(dest: string, fleet: JobFleet, what: string): void {
  try {
    const vms = readdirSync(dest).sort();
    const expected = Array.from({ length: fleet.count }, (_, i) => vmName(i));
    const missing = expected.filter((vm) => !vms.includes(vm) || readdirSync(join(dest, vm)).length !== 1);
    if (missing.length || vms.length !== expected.length) throw new Error(`${what}: expected one backup of each of ${fleet.count} VMs in ${dest}, found: ${vms.join(', ')}`);
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

async function jobRun(host: BenchHost, job: JobHost, fleet: JobFleet, slots: number): Promise<RunResult> {
  const n = ++runCounter;
  const dest = join(host.out, `job-${n}`);
  const file = join(host.work, `bench-job-${n}.yaml`);
  writeJobFile(job, dest, slots, file);
  const cli = binCommand(['run', file, '--json', '-L', '1', '--no-notify']);
  const run = await runChild({ command: cli.command, args: cli.args });
  const summary = JSON.parse(run.stdout) as RunSummary;
  if (summary.counts.ok !== fleet.count) throw new Error(`the job of ${slots} slot(s) backed up ${summary.counts.ok} of ${fleet.count} VMs: ${run.stdout}`);
  checkAndRemoveBackups(dest, fleet, `the job of ${slots} slot(s)`);
  rmSync(file, { force: true });
  return run;
}

/**
 * What an admin scripts without job files: a POSIX shell `for` loop of one `vcbmounter` per VM, each with its
 * own process start, SSH login, listing and snapshot, into a new directory per VM named by the time.
 */
async function loopRun(host: BenchHost, job: JobHost, fleet: JobFleet): Promise<RunResult> {
  const dest = join(host.out, `loop-${++runCounter}`);
  const cli = binCommand([
    '-h', '127.0.0.1', '--port', String(job.sim.port), '-u', 'root', '--password-file', job.passwordFile,
    '--host-key', job.sim.fingerprint, '--state-dir', job.stateDir, '-t', 'fullvm', '-L', '1',
  ]);
  const vcbmounter = [cli.command, ...cli.args].map(shellQuote).join(' ');
  const script = `set -e
dest=$1; shift
for vm in "$@"; do
  ${vcbmounter} -a "name:$vm" -r "$dest/$vm/$(date -u +%Y%m%dT%H%M%SZ)"
done`;
  const names = Array.from({ length: fleet.count }, (_, i) => vmName(i));
  const run = await runChild({ command: 'sh', args: ['-c', script, 'sh', dest, ...names], discardStdout: true });
  checkAndRemoveBackups(dest, fleet, 'the shell loop');
  return run;
}

async function startJobHost(host: BenchHost, fleet: JobFleet): Promise<JobHost> {
  const stateDir = join(host.work, 'jobs-cli-state');
  mkdirSync(stateDir, { recursive: true });
  const sim = await startSimulator({ stateDir: join(host.work, 'jobs-sim'), inventory: jobInventory(fleet) });
  const passwordFile = join(host.work, 'jobs-host.pass');
  writeFileSync(passwordFile, `${sim.password}\n`, { mode: 0o600 });
  return { sim, passwordFile, stateDir };
}

/** Seconds hostd alone spends on one VM's backup at realistic timings: the quiesced snapshot's create and its remove. */
/** Snapshot listings of one backup: before the create (a leftover?), after it (its id), before the remove (ours, by description) and after it (gone?). */
const SNAPSHOT_LISTINGS_PER_BACKUP = 4;

export function hostdSecondsPerVm(): number {
  const t = REALISTIC_TIMING;
  return (t.createSnapshotMs + t.quiesceMs + t.removeSnapshotMs) / 1000;
}

export async function jobCases(host: BenchHost, args: BenchArgs, log: Log): Promise<Comparison[]> {
  const fleet = jobFleet(args);
  const what = `${fleet.count} running VMs, one ${mib(fleet.diskSize)} thin disk each (${mib(fleet.written)} written), realistic hostd timings`;
  log(`11-12. vcbmounter run JOB.yaml (1 and ${PARALLEL_SLOTS} at a time) vs a shell loop of ${fleet.count} vcbmounter calls (${what})`);
  const job = await startJobHost(host, fleet);
  const loops: RunResult[] = [];
  const serial: RunResult[] = [];
  const parallel: RunResult[] = [];
  try {
    for (let i = 1; i <= args.repeat; i++) {
      loops.push(await loopRun(host, job, fleet));
      serial.push(await jobRun(host, job, fleet, 1));
      parallel.push(await jobRun(host, job, fleet, PARALLEL_SLOTS));
      log(
        `  jobs run ${i}/${args.repeat}: loop ${loops.at(-1)!.seconds.toFixed(1)} s, ` +
          `run total 1 ${serial.at(-1)!.seconds.toFixed(1)} s, run total ${PARALLEL_SLOTS} ${parallel.at(-1)!.seconds.toFixed(1)} s`,
      );
    }
  } finally {
    await job.sim.stop();
  }
  const loop = best(loops).seconds;
  const one = best(serial).seconds;
  const four = best(parallel).seconds;
  const perVm = (s: number) => `${(s / fleet.count).toFixed(2)} s per VM`;
  const floor = hostdSecondsPerVm();
  const loopSide = { label: `sh for-loop of ${fleet.count} vcbmounter calls`, seconds: loop };
  const common = [
    `${what}; one host, one datastore; both sides write a new directory per VM under the same directory, and neither verifies (the job file says verify: false)`,
    `hostd alone takes ${floor.toFixed(1)} s per VM here (quiesced snapshot create ${((REALISTIC_TIMING.createSnapshotMs + REALISTIC_TIMING.quiesceMs) / 1000).toFixed(1)} s, ` +
      `remove ${(REALISTIC_TIMING.removeSnapshotMs / 1000).toFixed(1)} s): ${(floor * fleet.count).toFixed(0)} s for the ${fleet.count} VMs one at a time`,
  ];
  // The snapshot listings every backup makes (before and after the create, before and after the remove) are hostd's time too.
  const hostdFloor = floor + (SNAPSHOT_LISTINGS_PER_BACKUP * REALISTIC_TIMING.listSnapshotsMs) / 1000;
  const ceiling = `with its ${SNAPSHOT_LISTINGS_PER_BACKUP} snapshot listings hostd takes ${hostdFloor.toFixed(2)} s of every VM's backup: ` +
    `a job costing nothing else would be ${(loop / (hostdFloor * fleet.count)).toFixed(2)}× faster than this loop, the most total 1 can reach here`;
  const ratio11 = loop / one;
  const row11: Comparison = {
    title: `\`vcbmounter run\` of ${fleet.count} small VMs with \`concurrency: {total: 1}\` vs a shell loop of ${fleet.count} \`vcbmounter\` calls`,
    subject: { label: 'run, total 1', seconds: one },
    baseline: loopSide,
    kind: 'speedup',
    ratio: ratio11,
    target: 1.3,
    pass: ratio11 >= 1.3,
    notes: [
      ...common,
      `loop ${perVm(loop)}, run ${perVm(one)}: each call of the loop starts node, logs in over SSH again and lists the ` +
        `host's VMs twice (to detect its command set and to find the VM), ${((loop - one) / fleet.count).toFixed(2)} s per VM more than ` +
        `the job's one process, one connection and one listing (each VM confirmed by one get.summary); the rest, hostd's work, is the same in both`,
      ceiling,
    ],
  };
  const ratio12 = loop / four;
  const row12: Comparison = {
    title: `\`vcbmounter run\` of the same VMs with \`concurrency: {total: ${PARALLEL_SLOTS}, perHost: ${PARALLEL_SLOTS}, perDatastore: ${PARALLEL_SLOTS}}\` vs the same shell loop`,
    subject: { label: `run, total ${PARALLEL_SLOTS}`, seconds: four },
    baseline: loopSide,
    kind: 'speedup',
    ratio: ratio12,
    target: 2,
    pass: ratio12 >= 2,
    notes: [
      `${PARALLEL_SLOTS} slots against total 1 of this run: ${(one / four).toFixed(2)}× (at most ${PARALLEL_SLOTS}×; ${fleet.count} VMs make ${Math.ceil(fleet.count / PARALLEL_SLOTS)} rounds); ` +
        `the simulated hostd runs the four VMs' snapshot tasks at once, as a real one does`,
      `best of ${args.repeat} run(s) of each side, run in turn (loop, total 1, total ${PARALLEL_SLOTS})`,
    ],
  };
  return [row11, row12];
}
