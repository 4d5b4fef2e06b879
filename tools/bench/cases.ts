// The four comparisons: each runs vcbmounter and its baseline side by side against the same simulated host.

import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { binCommand } from '../test-support/bin-command.js';
import type { BenchArgs } from './args.js';
import { VM, type BenchHost } from './fixture.js';
import { allocatedOnDisk, dropCachedPages, readExtents, runChild, type RunResult } from './measure.js';

export interface Side {
  label: string;
  seconds: number;
  /** Bytes the side moved (for a rate), when a rate is meaningful. */
  bytes?: number;
  peakRss?: number;
}

export interface Comparison {
  title: string;
  subject: Side;
  baseline: Side;
  /**
   * How the figure is read: a rate or speed ratio (higher is better), a memory ratio (lower is better), or
   * `overhead`: the subject's seconds beyond the baseline's (ratio holds that difference; lower is better).
   */
  kind: 'rate' | 'speedup' | 'memory' | 'overhead';
  ratio: number;
  target: number;
  pass: boolean;
  notes: string[];
}

export type Log = (line: string) => void;

/** Per-run costs that do not depend on the disk: process start, connect, snapshot, block map, VM files, snapshot removal. */
export interface FixedCosts {
  /** Best time of a CLI nbd export of a 1 MiB disk, s. */
  cli: number;
  /** Best time of an ssh cat of a 1 MiB file, s. */
  ssh: number;
}

let exportCounter = 0;

/** The CLI's flags for a backup of `vm` on the bench's host (password on stdin). */
export function cliHostArgs(host: BenchHost, vm: string): string[] {
  return [
    '-h', '127.0.0.1', '--port', String(host.sim.port), '-p', '-', '--host-key', host.sim.fingerprint,
    '--state-dir', join(host.work, 'cli-state'), '-a', `name:${vm}`, '--preexisting-snapshot', 'delete', '--json', '-L', '1',
  ];
}

async function cliExport(host: BenchHost, vm: string, mode: 'nbd' | 'san', measureRss: boolean, into = host.out): Promise<{ run: RunResult; dir: string }> {
  const { sim, work } = host;
  const dir = join(into, `export-${++exportCounter}`);
  const args = [...cliHostArgs(host, vm), '-r', dir, '-m', mode];
  if (mode === 'san') {
    const ds = sim.esx.vfs.datastores()[0]!;
    args.push('--lun', `${ds.lvid}=${ds.lunPath}`);
  }
  const cli = binCommand(args);
  const run = await runChild({
    command: cli.command,
    args: cli.args,
    input: `${sim.password}\n`,
    ...(measureRss ? { rssFile: join(work, 'rss') } : {}),
  });
  return { run, dir };
}

/**
 * OpenSSH `ssh host cat <path>`. By default the bytes are copied into a file next to the exports and
 * fsynced, the same work an export does with them (the baseline an admin would script); `toNull` only
 * reads them (stdout to /dev/null), which shows the transfer alone.
 */
/** OpenSSH's argv for running `command` on the bench's host as root with the bench's key. */
export function sshArgs(host: BenchHost, command: string[]): string[] {
  return [
    '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${host.knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null',
    '-i', host.identityFile, '-p', String(host.sim.port), 'root@127.0.0.1', ...command,
  ];
}

export async function sshCat(host: BenchHost, path: string, toNull = false): Promise<RunResult> {
  const copy = join(host.out, 'ssh-cat-copy');
  try {
    return await runChild({
    command: 'ssh',
    args: sshArgs(host, ['cat', `'${path}'`]),
      ...(toNull ? { discardStdout: true } : { stdoutFile: copy }),
    });
  } finally {
    rmSync(copy, { force: true });
  }
}

function flatFileIn(dir: string): string {
  const flat = readdirSync(dir).find((f) => f.endsWith('-flat.vmdk'));
  if (!flat) throw new Error(`no -flat.vmdk in ${dir}: ${readdirSync(dir).join(', ')}`);
  return join(dir, flat);
}

export function best<T extends { seconds: number }>(runs: T[]): T {
  return runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** Runs baseline and subject alternately, `repeat` times each; returns the fastest of each. */
export async function alternate<S extends { seconds: number }, B extends { seconds: number }>(
  repeat: number,
  log: Log,
  what: string,
  baseline: () => Promise<B>,
  subject: () => Promise<S>,
): Promise<{ subject: S; baseline: B }> {
  const subjects: S[] = [];
  const baselines: B[] = [];
  for (let i = 1; i <= repeat; i++) {
    baselines.push(await baseline());
    subjects.push(await subject());
    log(`  ${what} run ${i}/${repeat}: baseline ${baselines.at(-1)!.seconds.toFixed(2)} s, vcbmounter ${subjects.at(-1)!.seconds.toFixed(2)} s`);
  }
  return { subject: best(subjects), baseline: best(baselines) };
}

export async function measureFixedCosts(host: BenchHost, args: BenchArgs, log: Log): Promise<FixedCosts> {
  log('0. fixed cost per run: export of a 1 MiB disk vs ssh cat of a 1 MiB file');
  const r = await alternate(args.repeat, log, 'fixed', () => sshCat(host, host.flatPath(VM.tiny)), async () => {
    const { run, dir } = await cliExport(host, VM.tiny, 'nbd', false);
    rmSync(dir, { recursive: true, force: true });
    return run;
  });
  return { cli: r.subject.seconds, ssh: r.baseline.seconds };
}

/** The same comparison with each side's fixed cost taken off: how fast the bytes themselves move. */
export function dataPhaseNote(subject: number, baseline: number, bytes: number, fixed: { subject: number; baseline: number }): string {
  const s = Math.max(subject - fixed.subject, 1e-3);
  const b = Math.max(baseline - fixed.baseline, 1e-3);
  const rate = (seconds: number) => `${(bytes / 1024 / 1024 / seconds).toFixed(0)} MiB/s`;
  return (
    `data phase only (each side minus its 1 MiB run: ${fixed.subject.toFixed(2)} s / ${fixed.baseline.toFixed(2)} s): ` +
    `vcbmounter ${rate(s)} vs baseline ${rate(b)}, ratio ${(b / s).toFixed(2)}`
  );
}

export async function nbdVersusSshCat(host: BenchHost, args: BenchArgs, log: Log, fixed: FixedCosts): Promise<Comparison> {
  log(`1. nbd export vs ssh cat of a ${mib(args.size)} thick disk`);
  const path = host.flatPath(VM.thick);
  const r = await alternate(args.repeat, log, 'nbd', () => sshCat(host, path), async () => {
    const { run, dir } = await cliExport(host, VM.thick, 'nbd', true);
    rmSync(dir, { recursive: true, force: true });
    return run;
  });
  const readOnly = await sshCat(host, path, true);
  const ratio = r.baseline.seconds / r.subject.seconds;
  return {
    title: `nbd export of a ${mib(args.size)} thick disk vs OpenSSH \`cat\` of its flat file into a local file`,
    subject: { label: 'vcbmounter -m nbd', seconds: r.subject.seconds, bytes: args.size, ...(r.subject.peakRss ? { peakRss: r.subject.peakRss } : {}) },
    baseline: { label: 'ssh cat > file, fsync', seconds: r.baseline.seconds, bytes: args.size },
    kind: 'rate',
    ratio,
    target: 0.9,
    pass: ratio >= 0.9,
    notes: [
      dataPhaseNote(r.subject.seconds, r.baseline.seconds, args.size, { subject: fixed.cli, baseline: fixed.ssh }),
      `transfer alone: ssh cat > /dev/null (nothing written) took ${readOnly.seconds.toFixed(2)} s, ` +
        `${(args.size / 1024 / 1024 / readOnly.seconds).toFixed(0)} MiB/s; against it vcbmounter's ratio is ${(readOnly.seconds / r.subject.seconds).toFixed(2)}`,
    ],
  };
}

export async function sanVersusSequentialRead(host: BenchHost, args: BenchArgs, log: Log, fixed: FixedCosts): Promise<Comparison> {
  log(`2. san export vs sequential read of the same LUN extents (${mib(args.size)} thick disk)`);
  const path = host.flatPath(VM.thick);
  const ds = host.sim.esx.vfs.datastores()[0]!;
  const extents = host.sim.esx.vfs
    .blockMap(path)
    .filter((e) => e.kind === 'mapped')
    .map((e) => ({ lunOffset: e.lunOffset!, length: e.length }));
  const cold = <T>(side: () => Promise<T>) => () => {
    dropCachedPages(ds.lunPath);
    return side();
  };
  const sanExport = (into: string) =>
    cold(async () => {
      const { run, dir } = await cliExport(host, VM.thick, 'san', true, into);
      rmSync(dir, { recursive: true, force: true });
      return run;
    });
  const r = await alternate(args.repeat, log, 'san', cold(() => readExtents(ds.lunPath, extents)), sanExport(host.sanOut));
  const copy = await cold(() => readExtents(ds.lunPath, extents, join(host.sanOut, 'lun-extents-copy')))();
  // The export's output was put off the LUN's file system: also once where the LUN is, for comparison.
  const shared = host.sanOut === host.out ? undefined : await sanExport(host.out)();
  const ratio = r.baseline.seconds / r.subject.seconds;
  return {
    title: `san export of a ${mib(args.size)} thick disk vs reading its ${extents.length} LUN extents in order, LUN not cached`,
    subject: { label: 'vcbmounter -m san', seconds: r.subject.seconds, bytes: args.size, ...(r.subject.peakRss ? { peakRss: r.subject.peakRss } : {}) },
    baseline: { label: 'node read of the extents, 4 MiB buffer, cold cache', seconds: r.baseline.seconds, bytes: args.size },
    kind: 'rate',
    ratio,
    target: 0.9,
    pass: ratio >= 0.9,
    notes: [
      dataPhaseNote(r.subject.seconds, r.baseline.seconds, args.size, { subject: fixed.cli, baseline: 0 }),
      `equal work: the same cold read plus writing the bytes into one file and fsyncing it (no hashing) took ${copy.seconds.toFixed(2)} s, ` +
        `${(args.size / 1024 / 1024 / copy.seconds).toFixed(0)} MiB/s; against it vcbmounter's ratio is ${(copy.seconds / r.subject.seconds).toFixed(2)}`,
      ...(shared
        ? [
            `export written to ${host.sanOut}, off the LUN's file system, as on a backup proxy; written next to the LUN image instead ` +
              `(one run, the device then carries the export's writes as well as the reads) it took ${shared.seconds.toFixed(2)} s, ` +
              `ratio ${(r.baseline.seconds / shared.seconds).toFixed(2)}`,
          ]
        : []),
    ],
  };
}

export async function thinVersusFullCopy(host: BenchHost, args: BenchArgs, log: Log, fixed: FixedCosts): Promise<Comparison> {
  const written = host.thinWritten[VM.thin]!;
  log(`3. nbd export of a ${mib(args.size)} thin disk (${mib(written)} written) vs ssh cat of its whole flat file`);
  const path = host.flatPath(VM.thin);
  const onDisk: number[] = [];
  const r = await alternate(args.repeat, log, 'thin', () => sshCat(host, path), async () => {
    const { run, dir } = await cliExport(host, VM.thin, 'nbd', true);
    onDisk.push(await allocatedOnDisk(flatFileIn(dir)));
    rmSync(dir, { recursive: true, force: true });
    return run;
  });
  const ratio = r.baseline.seconds / r.subject.seconds;
  const allocated = Math.max(...onDisk);
  return {
    title: `nbd export of a ${mib(args.size)} thin disk with ${(args.thinFraction * 100).toFixed(0)}% written vs ssh \`cat\` of the full flat file into a local file`,
    subject: { label: 'vcbmounter -m nbd', seconds: r.subject.seconds, ...(r.subject.peakRss ? { peakRss: r.subject.peakRss } : {}) },
    baseline: { label: 'ssh cat > file, fsync', seconds: r.baseline.seconds, bytes: args.size },
    kind: 'speedup',
    ratio,
    target: 5,
    pass: ratio >= 5,
    notes: [
      r.subject.seconds - fixed.cli < 0.2
        ? `the thin export took no measurably longer than the ${fixed.cli.toFixed(2)} s of a 1 MiB export: its time is the fixed cost`
        : `speed-up with each side's fixed cost taken off: ${((r.baseline.seconds - fixed.ssh) / (r.subject.seconds - fixed.cli)).toFixed(1)}× ` +
          `(vcbmounter ${fixed.cli.toFixed(2)} s and ssh ${fixed.ssh.toFixed(2)} s for a 1 MiB disk)`,
      `exported flat file occupies ${mib(allocated)} on disk (stat blocks × 512) for ${mib(written)} written in the guest ` +
        `(${(allocated / written).toFixed(3)}×)`,
    ],
  };
}

export async function memoryAsDiskGrows(host: BenchHost, args: BenchArgs, log: Log, _fixed: FixedCosts): Promise<Comparison> {
  const small = host.thinWritten[VM.memorySmall]!;
  const large = host.thinWritten[VM.memoryLarge]!;
  log(`4. peak RSS of nbd exports: ${mib(args.memorySmall)} vs ${mib(args.memoryLarge)} thin disk, ${mib(small)} written in each`);
  const smallRuns: Array<RunResult & { peakRss: number }> = [];
  const largeRuns: Array<RunResult & { peakRss: number }> = [];
  await alternate(args.repeat, log, 'memory', async () => {
    const { run, dir } = await cliExport(host, VM.memorySmall, 'nbd', true);
    rmSync(dir, { recursive: true, force: true });
    smallRuns.push({ ...run, peakRss: run.peakRss! });
    return run;
  }, async () => {
    const { run, dir } = await cliExport(host, VM.memoryLarge, 'nbd', true);
    rmSync(dir, { recursive: true, force: true });
    largeRuns.push({ ...run, peakRss: run.peakRss! });
    return run;
  });
  const peak = (runs: Array<{ peakRss: number }>) => Math.max(...runs.map((x) => x.peakRss));
  const ratio = peak(largeRuns) / peak(smallRuns);
  return {
    title: `peak RSS of the CLI exporting a ${mib(args.memoryLarge)} vs a ${mib(args.memorySmall)} thin disk (nbd)`,
    subject: { label: `${mib(args.memoryLarge)} disk`, seconds: best(largeRuns).seconds, bytes: large, peakRss: peak(largeRuns) },
    baseline: { label: `${mib(args.memorySmall)} disk`, seconds: best(smallRuns).seconds, bytes: small, peakRss: peak(smallRuns) },
    kind: 'memory',
    ratio,
    target: 1.1,
    pass: Math.abs(ratio - 1) <= 0.1,
    notes: [
      `both disks hold the same ${mib(small)} written in scattered 1 MiB blocks, so only the disk's size differs; ` +
        `peak RSS is the highest of ${args.repeat} run(s) per size, from GNU time (%M)`,
    ],
  };
}
